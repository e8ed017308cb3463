import Stacks
import Synchronization

/// The real runner, counting calls and recording when each command ran.
public final class CountingRunner: CommandRunner {
    /// One command and when it ran.
    public struct Interval: Sendable {
        public var arguments: [String]
        public var start: ContinuousClock.Instant
        public var end: ContinuousClock.Instant
    }

    private let real = SubprocessCommandRunner()
    private let log = Mutex<[Interval]>([])

    public init() {}

    /// How many commands ran since the last ``reset()``.
    public var calls: Int { log.withLock { $0.count } }
    /// The commands since the last ``reset()``, in the order they finished.
    public var intervals: [Interval] { log.withLock { $0 } }

    public func reset() { log.withLock { $0.removeAll() } }

    public func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        let start = ContinuousClock.now
        defer {
            let interval = Interval(arguments: command.arguments, start: start, end: .now)
            log.withLock { $0.append(interval) }
        }
        return try await real.run(command)
    }
}
