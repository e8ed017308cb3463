import AgentAPI
import ArgumentParser
import CommandLineSupport
import Foundation
import Logging

/// `felhom-controller`: manages the compose stacks of one guest.
@main
struct FelhomController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "felhom-controller",
        abstract: "Manages the docker compose stacks of one felhom guest.",
        version: ProductVersion.current,
        subcommands: [StacksCommand.self, RunCommand.self, RecoverCommand.self, CyclesCommand.self, RollbackCommand.self, HealthCommand.self]
    )

    static func main() async {
        await mainWithLogging()
    }
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The YAML config file.")
    var config: String = ControllerConfig.defaultPath

    /// Read by the commands that print results (`stacks list`, `cycles`, `recover`, `rollback`); the rest print nothing to parse.
    @Flag(name: .long, help: "Print JSON for scripts instead of text.")
    var json = false

    /// Loads the config, or fails with a one-line message naming the bad key.
    func loadConfig() throws -> ControllerConfig {
        do {
            return try ControllerConfig.load(path: config)
        } catch {
            throw CommandFailure(config: error)
        }
    }
}
