import Foundation
import Logging
import Stacks

/// Brings stacks back up and does not give up: a stranded-down app is worse than anything else here.
struct StackRestarter: Sendable {
    let control: any StackControl
    let settings: QuiesceSettings
    let clock: any QuiesceClock
    let logger: Logger

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
            var failed: [String] = []
            for stack in pending {
                do {
                    try await control.start(stack)
                    let status = try await control.status(stack)
                    if status == .running || (partialBefore.contains(stack) && status.isUp) {
                        upAt[stack] = clock.now
                        logger.info("stack restarted", metadata: ["stack": "\(stack)"])
                        if upAt.count == 1 { await ControllerFailpoint.reach(ControllerFailpoint.restarting, logger: logger) }
                        continue
                    }
                    failed.append(stack)
                    logger.error("stack started but not all of it runs; will retry", metadata: ["stack": "\(stack)", "status": "\(status.rawValue)"])
                } catch {
                    failed.append(stack)
                    logger.error("restarting a stack failed; will retry", metadata: ["stack": "\(stack)", "error": "\(error)"])
                }
            }
            pending = failed
            if pending.isEmpty { return (upAt, []) }
            if let deadline = deadline(), clock.now + wait > deadline { return (upAt, pending) }
            // Restarts run outside the cancelled task, so nothing cuts this short.
            await clock.sleep(for: wait)
            wait = min(wait * 2, settings.restartRetryCap)
        }
    }
}
