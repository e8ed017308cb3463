import ArgumentParser
import Foundation
import Logging

/// `felhom-controller`: manages the compose stacks of one guest.
@main
struct FelhomController: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "felhom-controller",
        abstract: "Manages the docker compose stacks of one felhom guest.",
        subcommands: [StacksCommand.self]
    )

    static func main() async {
        let level = ProcessInfo.processInfo.environment["FELHOM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// Options every command shares.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: "The YAML config file.")
    var config: String = ControllerConfig.defaultPath

    /// Loads the config, or fails with a one-line message naming the bad key.
    func loadConfig() throws -> ControllerConfig {
        do {
            return try ControllerConfig.load(path: config)
        } catch {
            throw CommandFailure(message: error.description, exitCode: CommandFailure.configExitCode)
        }
    }
}

/// A failure the CLI reports as one line on stderr and a non-zero exit code.
struct CommandFailure: Error, CustomStringConvertible {
    /// EX_CONFIG from sysexits.h: the config file is missing or wrong.
    static let configExitCode: Int32 = 78

    var message: String
    var exitCode: Int32 = 1

    var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, reporting a ``CommandFailure`` as `felhom-controller: message` on stderr.
    func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CommandFailure {
            FileHandle.standardError.write(Data("felhom-controller: \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }
}
