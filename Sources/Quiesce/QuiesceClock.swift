/// Time as the quiesce cycle sees it: the seam that lets tests run the bound, the poll
/// interval and the restart backoff without waiting.
public protocol QuiesceClock: Sendable {
    /// Time since a fixed origin of this clock's choosing.
    var now: Duration { get }
    /// Waits `duration`; returns early only when the task is cancelled.
    func sleep(for duration: Duration) async
}

/// The real clock: `ContinuousClock`, which keeps counting while the machine sleeps.
public struct SystemQuiesceClock: QuiesceClock {
    private let origin = ContinuousClock.now

    public init() {}

    public var now: Duration { origin.duration(to: .now) }

    public func sleep(for duration: Duration) async {
        try? await Task.sleep(for: duration)
    }
}
