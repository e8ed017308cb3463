import Foundation
import Synchronization

/// What the quiesce loop is doing now, read by the customer API.
public final class QuiesceState: Sendable {
    /// `idle`, or the stacks a cycle holds down and since when.
    public enum Snapshot: Sendable, Equatable {
        case idle
        case quiescing(cycleID: String, stacks: [String], since: Date)
    }

    private let current = Mutex(Snapshot.idle)
    private let reserved = Mutex(false)

    /// Claims the right to run a cycle in this process; false while another holds it.
    func reserve() -> Bool {
        reserved.withLock { taken in
            if taken { return false }
            taken = true
            return true
        }
    }

    func release() {
        reserved.withLock { $0 = false }
    }

    public init() {}

    public var snapshot: Snapshot { current.withLock { $0 } }

    /// Whether a cycle holds `stack`, so a customer must not start or stop it now.
    public func holds(_ stack: String) -> Bool {
        if case .quiescing(_, let stacks, _) = snapshot { stacks.contains(stack) } else { false }
    }

    func begin(_ marker: QuiesceMarker) {
        current.withLock { $0 = .quiescing(cycleID: marker.cycleID, stacks: marker.stacks, since: marker.startedAt) }
    }

    func end() {
        current.withLock { $0 = .idle }
    }
}
