import Logging
import ServiceLifecycle

/// The quiesce loop as a service: recover, then ask the agent every poll interval.
///
/// On graceful shutdown the cycle in flight is cancelled, which makes it restart
/// its stacks (in a task the cancellation does not reach) before the loop returns.
public struct QuiesceLoop: Service {
    let cycle: QuiesceCycle
    let logger: Logger

    public init(cycle: QuiesceCycle, logger: Logger) {
        self.cycle = cycle
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    // Single flight: while a marker exists, finishing it comes before any new cycle.
                    if try await cycle.recover() == nil {
                        _ = try await cycle.runIfDue()
                    }
                } catch {
                    logger.warning("quiesce loop iteration failed", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: cycle.settings.pollInterval)
            }
        }
        logger.info("quiesce loop stopped")
    }
}
