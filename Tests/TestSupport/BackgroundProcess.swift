import Foundation

/// A long-running program under test: started with its stderr in a log file,
/// watched for log lines, and stopped with any signal, SIGKILL included.
public final class BackgroundProcess: @unchecked Sendable {
    public let executable: String
    public let arguments: [String]
    public let logPath: String
    private let process = Process()

    public init(executable: String, arguments: [String], logPath: String, environment: [String: String] = [:]) throws {
        self.executable = executable
        self.arguments = arguments
        self.logPath = logPath
        FileManager.default.createFile(atPath: logPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = FileHandle(forWritingAtPath: logPath)
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    public var isRunning: Bool { process.isRunning }
    public var processIdentifier: Int32 { process.processIdentifier }
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// The log lines containing `text`.
    public func lines(containing text: String) -> [Substring] {
        log.split(separator: "\n").filter { $0.contains(text) }
    }

    /// Waits until a log line contains `text` (at least `count` of them); false if the process ended or time ran out.
    public func waitForLine(_ text: String, count: Int = 1, timeout: Duration = .seconds(120)) async -> Bool {
        await eventually(timeout: timeout, every: .milliseconds(20)) { [self] in
            lines(containing: text).count >= count || !isRunning
        } && lines(containing: text).count >= count
    }

    /// Sends `signal` and waits for the process to end.
    public func stop(signal: Int32 = SIGTERM) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
    }

    public var exitStatus: Int32? { process.isRunning ? nil : process.terminationStatus }
}
