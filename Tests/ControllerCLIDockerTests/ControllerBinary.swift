import TestSupport
import Foundation
import Stacks

/// Runs the built `felhom-controller` binary as a real process, the way an operator does.
struct ControllerBinary {
    /// Next to the test bundle in the build directory, or `FELHOM_CONTROLLER_BIN`.
    static var path: String {
        if let override = ProcessInfo.processInfo.environment["FELHOM_CONTROLLER_BIN"] { return override }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("felhom-controller").path
    }

    struct Result {
        var exitCode: Int32?
        var stdout: String
        var stderr: String
    }

    static func run(_ arguments: [String]) async throws -> Result {
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw CLIError("no felhom-controller at \(path); build it first with `swift build --build-tests`")
        }
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: path, arguments: arguments, timeout: .seconds(120)))
        return Result(exitCode: output.exitCode, stdout: output.standardOutput, stderr: output.standardError)
    }

    /// Writes a config file into `directory` and returns its path.
    static func writeConfig(_ yaml: String, in directory: String) throws -> String {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/controller.yaml"
        try yaml.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
