/// One docker CLI invocation as a value: what runs, with which argv, where, and for how long.
///
/// Commands are built by ``DockerCommands`` and run by a ``CommandRunner``.
/// There is no shell anywhere on this path: `arguments` is the argv as docker receives it.
public struct DockerCommand: Sendable, Equatable, CustomStringConvertible {
    /// The docker binary: a name looked up on `PATH`, or an absolute path.
    public var executable: String
    /// The argv after the executable.
    public var arguments: [String]
    /// The working directory, or `nil` for the caller's.
    public var workingDirectory: String?
    /// How long the command may run before its whole process tree is killed.
    public var timeout: Duration

    public init(executable: String, arguments: [String], workingDirectory: String? = nil, timeout: Duration) {
        self.executable = executable
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.timeout = timeout
    }

    /// The argv for logs, each argument quoted so a reader sees the real boundaries.
    public var description: String {
        ([executable] + arguments).map { "'\($0)'" }.joined(separator: " ")
    }
}

/// What a finished command left behind.
public struct CommandOutput: Sendable, Equatable {
    /// The exit code, or `nil` when a signal ended the process.
    public var exitCode: Int32?
    public var standardOutput: String
    public var standardError: String

    public init(exitCode: Int32?, standardOutput: String, standardError: String) {
        self.exitCode = exitCode
        self.standardOutput = standardOutput
        self.standardError = standardError
    }

    /// Whether the command exited with status 0.
    public var succeeded: Bool { exitCode == 0 }
}

/// Why a command produced no ``CommandOutput``.
public enum CommandRunError: Error, Sendable, Equatable {
    /// The executable could not be started.
    case launchFailed(String)
    /// The command outlived its timeout; its process group was killed.
    /// Carries what it had printed on stderr until then.
    case timedOut(after: Duration, standardError: String)
    /// The calling task was cancelled; the process group was killed.
    case cancelled
}

/// Runs docker commands. The seam between the stack logic and the docker CLI.
///
/// The production conformer is ``SubprocessCommandRunner``; tests substitute a
/// recording runner to prove what would have reached an argv.
public protocol CommandRunner: Sendable {
    /// Runs `command` to completion or to its timeout.
    ///
    /// A non-zero exit is a normal ``CommandOutput``, not an error.
    func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput
}
