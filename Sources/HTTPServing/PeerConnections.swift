import Synchronization

/// Open connections per peer address, shared by every event loop of one server.
///
/// A guest that opens connections and never sends anything holds descriptors that every
/// other guest needs; a cap per address keeps one peer from taking the server's whole cap.
public final class PeerConnections: Sendable {
    private let cap: Int?
    private let counts = Mutex<[String: Int]>([:])

    /// `cap` is how many connections one address may hold open; `nil` for no cap.
    public init(cap: Int?) {
        self.cap = cap
    }

    /// Counts a new connection from `peer`; `false`, and nothing counted, when the peer is at its cap.
    public func open(_ peer: String) -> Bool {
        counts.withLock { counts in
            let current = counts[peer, default: 0]
            if let cap, current >= cap { return false }
            counts[peer] = current + 1
            return true
        }
    }

    /// Forgets one connection of `peer` that ``open(_:)`` counted.
    public func close(_ peer: String) {
        counts.withLock { counts in
            guard let current = counts[peer] else { return }
            counts[peer] = current > 1 ? current - 1 : nil
        }
    }

    /// Open connections of `peer` right now.
    public func count(_ peer: String) -> Int {
        counts.withLock { $0[peer, default: 0] }
    }
}
