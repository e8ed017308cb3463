import AgentAPI
import Foundation
import Logging
import ServiceLifecycle

/// Runs each guest's restore test when its interval has passed since the last one.
public struct RestoreTestScheduler: Service {
    let runner: RestoreTestRunner
    let store: AgentStore
    let interval: Duration
    let logger: Logger
    let now: @Sendable () -> Date

    public init(runner: RestoreTestRunner, store: AgentStore, interval: Duration, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.runner = runner
        self.store = store
        self.interval = interval
        self.logger = logger
        self.now = now
    }

    /// When the guest's next restore test is due: one interval after the last; `nil` before the first, which is due at once.
    public static func nextDue(last: RestoreTestEntry?, interval: Duration) -> Date? {
        guard let last else { return nil }
        return last.op.createdAt.addingTimeInterval(TimeInterval(interval.components.seconds))
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    for guest in try store.guests() {
                        guard try store.lastSuccessfulBackup(guest: guest.name) != nil else { continue }
                        let last = try store.restoreTests(guest: guest.name).first
                        if let due = Self.nextDue(last: last, interval: interval), due > now() { continue }
                        _ = try await runner.run(guest: guest)
                    }
                } catch {
                    logger.warning("scheduled restore test failed to run", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(30))
            }
        }
    }
}

extension RestoreTestEntry {
    /// The wire form, with when the next test is due.
    public func status(interval: Duration) -> RestoreTestStatus {
        RestoreTestStatus(
            backupID: backupID, startedAt: op.createdAt, finishedAt: op.finishedAt, result: result, checks: checks,
            nextDueAt: RestoreTestScheduler.nextDue(last: self, interval: interval))
    }
}
