import ArgumentParser
import CommandLineSupport
import HostAgent
import Logging

/// `felhom-agent run`: recover, then serve until SIGTERM.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Resolve interrupted ops, then serve the agent API over HTTPS until SIGTERM."
    )

    @OptionGroup var options: AgentOptions

    func run() async throws {
        try await reportingFailures {
            let configuration = try options.loadConfig()
            do {
                try await AgentServer(configuration: configuration, logger: Logger(label: "felhom-agent")).run()
            } catch let error as AgentStartupError {
                throw CommandFailure(message: "\(error)", exitCode: CommandFailure.configExitCode)
            } catch let error as StateDirectoryLockError where error.code == .unusable {
                throw CommandFailure(message: "\(error)", exitCode: CommandFailure.configExitCode)
            } catch {
                if let message = ListenFailure.message(for: error, host: configuration.listenHost, port: configuration.listenPort) {
                    throw CommandFailure(message: message, exitCode: CommandFailure.configExitCode)
                }
                throw CommandFailure(message: "\(error)")
            }
        }
    }
}
