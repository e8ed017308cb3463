import Foundation
import Synchronization

/// What the quiesce loop is doing now, read by the customer API.
public final class QuiesceState: Sendable {
    /// `idle`, or the stacks a cycle holds down and since when.
    public enum Snapshot: Sendable, Equatable {
        case idle
        case quiescing(cycleID: String, stacks: [String], since: Date)
    }

    /// Who may touch stacks now: one cycle, or any number of customer operations, never both.
    private struct Claims {
        var cycle = false
        var customerOperations = 0
    }

    private let current = Mutex(Snapshot.idle)
    private let waiting = Mutex<String?>(nil)
    private let claims = Mutex(Claims())

    /// Claims the right to run a cycle in this process; false while another cycle or a customer's operation holds it.
    func reserve() -> Bool {
        claims.withLock { claims in
            if claims.cycle || claims.customerOperations > 0 { return false }
            claims.cycle = true
            return true
        }
    }

    func release() {
        claims.withLock { $0.cycle = false }
    }

    /// Whether a cycle holds the loop now, from its first check to its last restart.
    public var isCycleRunning: Bool { claims.withLock { $0.cycle } }

    /// Runs a customer's stack operation with the check that no cycle runs as one step:
    /// a cycle cannot begin while it runs, and it cannot begin while a cycle runs.
    /// - Throws: ``QuiesceError`` `.busy` when a cycle holds the stacks, or what `body` throws.
    public func withCustomerOperation<T>(on stack: String, _ body: () async throws -> T) async throws -> T {
        // A marker that recovery has not finished holds its stacks too, before the loop claims it.
        let held = snapshot != .idle
        let admitted = claims.withLock { claims in
            if claims.cycle || held { return false }
            claims.customerOperations += 1
            return true
        }
        guard admitted else {
            throw QuiesceError(.busy, holds(stack)
                ? "\(stack) is stopped for a backup right now and restarts by itself when it is done; try again in a few minutes"
                : "a backup or rollback is running; try again when it has finished")
        }
        defer { claims.withLock { $0.customerOperations -= 1 } }
        return try await body()
    }

    public init() {}

    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Whether a cycle holds `stack`, so a customer must not start or stop it now.
    public func holds(_ stack: String) -> Bool {
        if case .quiescing(_, let stacks, _) = snapshot { stacks.contains(stack) } else { false }
    }

    /// Why the held stacks are not back yet when the cycle waits on something it cannot hurry,
    /// such as an unreachable agent during a rollback; `nil` otherwise.
    public var waitingReason: String? { waiting.withLock { $0 } }

    func setWaiting(_ reason: String?) {
        waiting.withLock { $0 = reason }
    }

    func begin(_ marker: QuiesceMarker) {
        current.withLock { $0 = .quiescing(cycleID: marker.cycleID, stacks: marker.stacks, since: marker.startedAt) }
        setWaiting(nil)
    }

    func end() {
        current.withLock { $0 = .idle }
        setWaiting(nil)
    }
}
