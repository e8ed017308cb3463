import Stacks
import Synchronization

/// The real runner, counting calls and recording when each compose command ran.
final class CountingRunner: CommandRunner {
    struct Interval: Sendable {
        var arguments: [String]
        var start: ContinuousClock.Instant
        var end: ContinuousClock.Instant
    }

    private let real = SubprocessCommandRunner()
    private let log = Mutex<[Interval]>([])

    var calls: Int { log.withLock { $0.count } }
    var intervals: [Interval] { log.withLock { $0 } }

    func reset() { log.withLock { $0.removeAll() } }

    func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        let start = ContinuousClock.now
        defer {
            let interval = Interval(arguments: command.arguments, start: start, end: .now)
            log.withLock { $0.append(interval) }
        }
        return try await real.run(command)
    }
}
