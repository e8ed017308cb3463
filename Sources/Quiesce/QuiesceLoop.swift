import Logging
import ServiceLifecycle

/// The quiesce loop as a service: recover, then ask the agent every poll interval.
///
/// On graceful shutdown the cycle in flight is cancelled, which makes it restart
/// its stacks (in a task the cancellation does not reach) before the loop returns.
public struct QuiesceLoop: Service {
    let cycle: QuiesceCycle
    let rollbacks: RollbackRequests
    let logger: Logger
    /// How often the wait between two polls looks for a rollback request.
    static let requestCheckInterval = Duration.milliseconds(200)

    public init(cycle: QuiesceCycle, rollbacks: RollbackRequests = RollbackRequests(), logger: Logger) {
        self.cycle = cycle
        self.rollbacks = rollbacks
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
                await waitServingRollbacks(for: cycle.settings.pollInterval)
            }
        }
        rollbacks.close(QuiesceError(.cancelled, "the controller is shutting down; nothing was stopped"))
        logger.info("quiesce loop stopped")
    }

    /// Sleeps until the next poll, running each rollback request as it arrives.
    private func waitServingRollbacks(for interval: Duration) async {
        let deadline = ContinuousClock.now.advanced(by: interval)
        while !Task.isCancelled, ContinuousClock.now < deadline {
            if let request = rollbacks.take() {
                await run(request)
                continue
            }
            try? await Task.sleep(for: min(Self.requestCheckInterval, ContinuousClock.now.duration(to: deadline)))
        }
    }

    private func run(_ request: RollbackRequests.Request) async {
        do {
            _ = try await cycle.run(.rollback(backupID: request.backupID)) { request.answer.resume() }
        } catch {
            logger.warning("rollback refused", metadata: ["backup_id": "\(request.backupID)", "error": "\(error)"])
            request.answer.resume(throwing: error)
        }
    }
}
