import Foundation

/// A cap on how many docker-backed tests run at once in one test process.
///
/// Swift Testing starts every test at the same instant. On a 2-core machine
/// twenty suites bringing up containers together pushed the load above 10, and
/// healthchecks that pass in a second on an idle machine timed out. Docker
/// tests wait here for a slot; the rest of the suite still runs in parallel.
/// `FELHOM_DOCKER_TEST_SLOTS` overrides the default of 2.
public actor DockerTestSlots {
    /// The one limiter every docker-backed test shares.
    public static let shared = DockerTestSlots(
        slots: ProcessInfo.processInfo.environment["FELHOM_DOCKER_TEST_SLOTS"].flatMap(Int.init).map { max(1, $0) } ?? 2)

    private let slots: Int
    private var inUse = 0
    private var waiting: [CheckedContinuation<Void, Never>] = []

    public init(slots: Int) {
        self.slots = slots
    }

    /// Runs `body` once a slot is free, and frees the slot when it returns or throws.
    public nonisolated func withSlot<T: Sendable>(_ body: () async throws -> T) async rethrows -> T {
        await acquire()
        do {
            let result = try await body()
            await release()
            return result
        } catch {
            await release()
            throw error
        }
    }

    private func acquire() async {
        if inUse < slots {
            inUse += 1
            return
        }
        // The releasing test hands its slot straight to the next waiter, so `inUse` stays the same.
        await withCheckedContinuation { waiting.append($0) }
    }

    private func release() {
        if waiting.isEmpty {
            inUse -= 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}
