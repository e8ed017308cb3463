import AgentAPI
import CommandLineSupport
import DurableFiles
import Foundation
import Logging
import Quiesce
import Stacks

/// The composition root: builds every part from the config, once.
struct ControllerRuntime {
    let config: ControllerConfig
    let logger: Logger
    let catalog: StackCatalog
    let operations: StackOperations
    let state = QuiesceState()
    let cycles: CycleStore
    let agent: AgentClient?

    init(config: ControllerConfig, logger: Logger) throws {
        self.config = config
        self.logger = logger
        let runner = SubprocessCommandRunner()
        catalog = StackCatalog(configuration: config.stacks, runner: runner)
        operations = StackOperations(configuration: config.stacks, runner: runner, logger: logger)
        let tightened: [PrivateState.Change]
        do {
            tightened = try PrivateState.prepareDirectory(config.stateDirectory)
        } catch {
            throw CommandFailure(
                message: "state_dir \(config.stateDirectory) cannot be used (\(error)); point state_dir at a directory this user can write",
                exitCode: CommandFailure.configExitCode)
        }
        do {
            cycles = try CycleStore(path: config.stateDirectory + "/controller.sqlite")
            for change in tightened + cycles.tightenedModes {
                logger.notice("tightened the mode of private state", metadata: ["change": "\(change)"])
            }
        } catch {
            throw CommandFailure(message: "cannot open the cycle records in \(config.stateDirectory): \(error)")
        }
        if let settings = config.agent {
            do {
                let token = try ControllerConfig.readToken(settings.tokenFile, key: "agent.token_file")
                agent = AgentClient(configuration: try AgentClientConfiguration(baseURL: settings.url, pin: settings.pin, token: token))
            } catch {
                throw CommandFailure(message: "\(error)", exitCode: CommandFailure.configExitCode)
            }
        } else {
            agent = nil
        }
    }

    /// Refuses to act on stacks when, from inside a container, the stacks dir is another path on the host.
    func verifyStacksMount() async throws {
        try await ControllerRuntime.verifyStacksMount(config.stacks, logger: logger)
    }

    /// For the commands that act on stacks without building a whole runtime.
    static func verifyStacksMount(_ configuration: StacksConfiguration, logger: Logger? = nil) async throws {
        do {
            if case .samePath(let containerID) = try await StacksMountCheck(configuration: configuration, runner: SubprocessCommandRunner()).verify() {
                logger?.info("stacks_dir is the same path on the host", metadata: [
                    "stacks_dir": "\(configuration.stacksDirectory)", "container": "\(containerID.prefix(12))",
                ])
            }
        } catch {
            throw CommandFailure(message: "\(error)", exitCode: CommandFailure.configExitCode)
        }
    }

    /// The quiesce cycle; without an agent, recovery still restarts a marker's stacks.
    var cycle: QuiesceCycle {
        QuiesceCycle(
            agent: agent,
            control: ComposeStackControl(catalog: catalog, operations: operations),
            marker: MarkerFile(stateDirectory: config.stateDirectory), records: cycles, state: state,
            settings: config.quiesce.settings, logger: logger)
    }
}
