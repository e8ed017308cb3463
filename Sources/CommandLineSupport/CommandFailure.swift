import ArgumentParser
import ConfigFile
import Foundation
import Logging

/// A failure the CLI reports as one line on stderr and a non-zero exit code.
public struct CommandFailure: Error, CustomStringConvertible {
    /// EX_CONFIG from sysexits.h: the config file is missing or wrong.
    public static let configExitCode: Int32 = 78

    public var message: String
    public var exitCode: Int32

    public init(message: String, exitCode: Int32 = 1) {
        self.message = message
        self.exitCode = exitCode
    }

    /// A config file that cannot be used exits 78 with the key at fault.
    public init(config error: ConfigError) {
        self.init(message: error.description, exitCode: Self.configExitCode)
    }

    public var description: String { message }
}

extension AsyncParsableCommand {
    /// Runs `body`, reporting a ``CommandFailure`` as `PROGRAM: message` on stderr.
    public func reportingFailures(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let failure as CommandFailure {
            let program = URL(fileURLWithPath: CommandLine.arguments.first ?? "felhom").lastPathComponent
            FileHandle.standardError.write(Data("\(program): \(failure.message)\n".utf8))
            throw ExitCode(failure.exitCode)
        }
    }
}

extension AsyncParsableCommand {
    /// The entry point of both executables: logging to stderr, then the parsed command, then its exit code.
    public static func mainWithLogging() async {
        CommandLine.bootstrapLogging()
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

extension CommandLine {
    /// Logs go to stderr at `FELHOM_LOG_LEVEL` (default `notice`), so stdout stays for results.
    public static func bootstrapLogging() {
        let level = ProcessInfo.processInfo.environment["FELHOM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .notice
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}

/// Pretty, sorted JSON for `--json` output, stable for scripts.
public enum CommandLineJSON {
    public static func render(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
