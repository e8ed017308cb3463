import AgentAPI
import ArgumentParser
import CommandLineSupport
import ConfigFile
import DurableFiles
import Foundation
import HostAgent
import Logging

/// `felhom-agent`: the host end of felhom backups.
@main
struct FelhomAgent: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "felhom-agent",
        abstract: "Takes, keeps and restores the backups of felhom guests, and serves them over HTTPS.",
        version: ProductVersion.current,
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
            let tightened = try PrivateState.prepareDirectory(configuration.stateDirectory)
            let store = try AgentStore(path: configuration.databasePath)
            for change in tightened + store.tightenedModes {
                Logger(label: "felhom-agent").notice("tightened the mode of private state", metadata: ["change": "\(change)"])
            }
            return (configuration, store)
        } catch {
            throw CommandFailure(message: "cannot open the agent database \(configuration.databasePath): \(error)")
        }
    }

    /// Prints `value` as JSON with `--json`, else the text.
    func emit(_ value: some Encodable, text: @autoclosure () -> String) throws {
        print(json ? try CommandLineJSON.render(value) : text())
    }
}
