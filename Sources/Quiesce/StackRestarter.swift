import Foundation
import Logging
import Stacks

/// Brings stacks back up and does not give up: a stranded-down app is worse than anything else here.
struct StackRestarter: Sendable {
    let control: any StackControl
    let settings: QuiesceSettings
    let clock: any QuiesceClock
    let logger: Logger

    /// One start, and whether the stack is then up.
    private func startOnce(_ stack: String, partialBefore: Set<String>) async -> Bool {
        do {
            try await control.start(stack)
            let status = try await control.status(stack)
            if status == .running || (partialBefore.contains(stack) && status.isUp) {
                logger.info("stack restarted", metadata: ["stack": "\(stack)"])
                return true
            }
            logger.error("stack started but not all of it runs; will retry", metadata: ["stack": "\(stack)", "status": "\(status.rawValue)"])
        } catch {
            logger.error("restarting a stack failed; will retry", metadata: ["stack": "\(stack)", "error": "\(error)"])
        }
        return false
    }

    /// Starts each stack until it is confirmed up, retrying with doubling waits.
    ///
    /// "Up" is container state, never health: a service still inside its
    /// healthcheck's `start_period` reports `starting`, and another `start`
    /// would not hurry it, so it counts as up. Compose itself waits for the
    /// health a `depends_on: service_healthy` names before it starts the dependant.
    /// Returns when all are up, or when `deadline` passes (then the marker stays for the next try).
    /// - Returns: when each stack was confirmed up (on `clock`), and the stacks still down.
    /// `deadline` is asked before each wait, so a shutdown that begins mid-restart still bounds it.
    func restart(
        _ stacks: [String], partialBefore: Set<String> = [], deadline: () -> Duration? = { nil }
    ) async -> (upAt: [String: Duration], stillDown: [String]) {
        var upAt: [String: Duration] = [:]
        var pending = stacks
        var wait = settings.restartRetryBase
        while true {
            var together = pending[...]
            var results: [(String, Bool)] = []
            // The crash test's point needs one stack up and the others not yet: that one goes alone.
            if ControllerFailpoint.active == ControllerFailpoint.restarting, upAt.isEmpty, let first = together.popFirst() {
                let up = await startOnce(first, partialBefore: partialBefore)
                results.append((first, up))
                if up {
                    upAt[first] = clock.now
                    await ControllerFailpoint.reach(ControllerFailpoint.restarting, logger: logger)
                }
            }
            // Together, as the stops were: each app is down until its own start, not the last one's.
            results += await withTaskGroup(of: (String, Bool).self) { group in
                for stack in together {
                    group.addTask { (stack, await startOnce(stack, partialBefore: partialBefore)) }
                }
                var results: [(String, Bool)] = []
                for await result in group {
                    if result.1 { upAt[result.0] = clock.now }
                    results.append(result)
                }
                return results
            }
            let failed = pending.filter { stack in results.contains { $0.0 == stack && !$0.1 } }
            pending = failed
            if pending.isEmpty { return (upAt, []) }
            if let deadline = deadline(), clock.now + wait > deadline { return (upAt, pending) }
            // Restarts run outside the cancelled task, so nothing cuts this short.
            await clock.sleep(for: wait)
            wait = min(wait * 2, settings.restartRetryCap)
        }
    }
}
