import ArgumentParser
import CommandLineSupport
import ConfigFile
import Foundation
import HostAgent

/// `felhom-agent`: the host end of felhom backups.
@main
struct FelhomAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "felhom-agent",
        abstract: "Takes, keeps and restores the backups of felhom guests, and serves them over HTTPS.",
        subcommands: [
            InitCommand.self, GuestCommand.self, RunCommand.self, BackupsCommand.self,
            BackupCommand.self, RestoreCommand.self, OpsCommand.self, RestoreTestCommand.self, RestoreTestsCommand.self,
        ]
    )

    static func main() async {
        await mainWithLogging()
    }
}

/// Options every command shares.
struct AgentOptions: ParsableArguments {
    @Option(name: .long, help: "The YAML config file.")
    var config: String = AgentConfiguration.defaultPath

    @Flag(name: .long, help: "Print JSON for scripts instead of text.")
    var json = false

    func loadConfig() throws -> AgentConfiguration {
        do {
            return try AgentConfiguration.load(path: config)
        } catch {
            throw CommandFailure(config: error)
        }
    }

    /// The config and the opened database, which is created on first use.
    func openStore() throws -> (AgentConfiguration, AgentStore) {
        let configuration = try loadConfig()
        do {
            try FileManager.default.createDirectory(
                atPath: configuration.stateDirectory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
            return (configuration, try AgentStore(path: configuration.databasePath))
        } catch {
            throw CommandFailure(message: "cannot open the agent database \(configuration.databasePath): \(error)")
        }
    }

    /// Prints `value` as JSON with `--json`, else the text.
    func emit(_ value: some Encodable, text: @autoclosure () -> String) throws {
        print(json ? try CommandLineJSON.render(value) : text())
    }
}
