/// An error from a stack query or operation: what failed, on which stack, and what docker said.
///
/// The `description` is one line that names the stack and the operation and
/// says what to do next. Callers that map errors (the CLI's exit codes, the
/// HTTP API's statuses) switch on `code`.
public struct StackError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Value: String, Sendable {
            case invalidName = "invalid_name"
            case unknownStack = "unknown_stack"
            case unmanaged
            case notDeployed = "not_deployed"
            case protected
            case busy
            case timeout
            case malformedComposeFile = "malformed_compose_file"
            case commandFailed = "command_failed"
            case dockerUnavailable = "docker_unavailable"
            case cancelled
            case localStateUnusable = "local_state_unusable"
            case ambiguousProject = "ambiguous_project"
        }
        private let value: Value

        /// The name fails `^[a-z0-9][a-z0-9_-]{0,62}$`; it never reached docker.
        public static let invalidName = Code(value: .invalidName)
        /// No stack of that name exists in `stacks_dir`.
        public static let unknownStack = Code(value: .unknownStack)
        /// The compose project is known to docker but not in `stacks_dir`, so it is read-only here.
        public static let unmanaged = Code(value: .unmanaged)
        /// The stack has no containers, so there is nothing to start.
        public static let notDeployed = Code(value: .notDeployed)
        /// The stack is protected infrastructure and the operation would take it down.
        public static let protected = Code(value: .protected)
        /// Another operation held the stack for longer than the wait bound.
        public static let busy = Code(value: .busy)
        /// The docker command ran past its timeout and its process tree was killed.
        public static let timeout = Code(value: .timeout)
        /// Compose could not read the stack's compose file.
        public static let malformedComposeFile = Code(value: .malformedComposeFile)
        /// Docker exited non-zero for another reason.
        public static let commandFailed = Code(value: .commandFailed)
        /// The docker binary could not be started at all.
        public static let dockerUnavailable = Code(value: .dockerUnavailable)
        /// The calling task was cancelled; the docker process group was killed.
        public static let cancelled = Code(value: .cancelled)
        /// A local directory the controller needs (`stacks_dir`, the lock directory) cannot be used.
        public static let localStateUnusable = Code(value: .localStateUnusable)
        /// The project name is claimed twice (two directories, or containers deployed from elsewhere), or is unsafe; nothing is operated on.
        public static let ambiguousProject = Code(value: .ambiguousProject)

        /// A stable snake_case identifier, used in JSON error bodies.
        public var description: String { value.rawValue }
    }

    public var code: Code
    /// The stack's name as given, which may be invalid.
    public var stack: String?
    public var operation: StackOperation?
    /// The compose file involved, when the error concerns it.
    public var composeFile: String?
    /// What docker printed on stderr, trimmed.
    public var stderr: String
    /// Extra context: the timeout, the wait bound, a launch error.
    public var detail: String?

    public init(
        code: Code,
        stack: String? = nil,
        operation: StackOperation? = nil,
        composeFile: String? = nil,
        stderr: String = "",
        detail: String? = nil
    ) {
        self.code = code
        self.stack = stack
        self.operation = operation
        self.composeFile = composeFile
        self.stderr = stderr
        self.detail = detail
    }

    public var description: String {
        let subject = stack.map { "stack \"\($0)\"" } ?? "stacks"
        let action = operation.map { "\($0.rawValue) of \(subject)" } ?? subject
        let docker = stderr.isEmpty ? "" : "; docker said: \(Self.oneLine(stderr))"
        let extra = detail.map { " (\($0))" } ?? ""
        switch code {
        case .invalidName:
            return "\(subject) has an invalid name: names must match ^[a-z0-9][a-z0-9_-]{0,62}$; rename the directory"
        case .unknownStack:
            return "\(subject) does not exist in stacks_dir; check the name with `stacks list`"
        case .unmanaged:
            return "\(subject) is not in stacks_dir, so it is read-only here; manage it where it was deployed"
        case .notDeployed:
            return "\(action) failed: the stack is not deployed; deploy it with `stacks up`\(docker)"
        case .protected:
            return "\(action) refused: the stack is protected infrastructure; pass --force if you really mean it"
        case .busy:
            return "\(action) failed: another operation is still running on it\(extra); try again when it finishes"
        case .timeout:
            return "\(action) timed out\(extra) and docker was killed; check the containers with `docker compose ps`\(docker)"
        case .malformedComposeFile:
            let file = composeFile ?? "the compose file"
            return "\(action) failed: compose cannot read \(file); fix the file\(docker)"
        case .dockerUnavailable:
            return "\(action) failed: the docker CLI could not be run\(extra); check docker.binary in the config"
        case .cancelled:
            return "\(action) was cancelled and docker was killed; check the containers with `docker compose ps`"
        case .localStateUnusable:
            return "\(action) failed\(extra); check that the directory exists and is writable"
        case .ambiguousProject:
            return "\(action) refused: \(detail ?? "its project name is claimed twice; give each directory its own `name:`")"
        default:
            return "\(action) failed\(extra)\(docker)"
        }
    }

    private static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline)
            .map { $0.trimmedWhitespace }
            .filter { !$0.isEmpty }
            .joined(separator: " | ")
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace.
    var trimmedWhitespace: String {
        var slice = Substring(self)
        while let first = slice.first, first.isWhitespace { slice.removeFirst() }
        while let last = slice.last, last.isWhitespace { slice.removeLast() }
        return String(slice)
    }
}
