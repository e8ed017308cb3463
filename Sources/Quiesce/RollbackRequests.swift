import Synchronization

/// Rollbacks the customer API hands to the quiesce loop.
///
/// A rollback cycle once ran in a bare `Task` beside the service group, so
/// SIGTERM never reached it and its stacks stayed down. Through this channel
/// the loop service runs it, and graceful shutdown unquiesces it like any cycle.
public final class RollbackRequests: Sendable {
    struct Request: Sendable {
        let backupID: String
        let answer: Answer
    }

    /// Resumes the caller exactly once: when the cycle has claimed the loop, or with why it did not.
    final class Answer: Sendable {
        private let continuation: Mutex<CheckedContinuation<Void, any Error>?>

        init(_ continuation: CheckedContinuation<Void, any Error>) {
            self.continuation = Mutex(continuation)
        }

        func resume(throwing error: (any Error)? = nil) {
            guard let continuation = continuation.withLock({ $0.take() }) else { return }
            if let error { continuation.resume(throwing: error) } else { continuation.resume() }
        }
    }

    private struct Queue {
        var requests: [Request] = []
        /// Set when the loop has stopped: later requests are refused at once, not left waiting.
        var closedBecause: QuiesceError?
    }

    private let queue = Mutex(Queue())

    public init() {}

    /// Asks the loop to roll back to `backupID`, and returns once the cycle has claimed the loop.
    ///
    /// The loop takes requests between its polls, so one that arrives while the loop is starting a
    /// backup cycle waits for that cycle to end.
    /// - Throws: ``QuiesceError``: `.busy` when another request waits or a customer's operation holds the
    ///   stacks, `.cancelled` when the loop is shutting down, and whatever else refused the rollback
    ///   before anything was stopped.
    public func submit(backupID: String) async throws {
        try await withCheckedThrowingContinuation { continuation in
            let answer = Answer(continuation)
            let refusal = queue.withLock { queue -> QuiesceError? in
                if let closed = queue.closedBecause { return closed }
                // One at a time: a double click or a retried request must not roll back twice.
                guard queue.requests.isEmpty else {
                    return QuiesceError(.busy, "another rollback request is waiting to start; try again when it has finished")
                }
                queue.requests.append(Request(backupID: backupID, answer: answer))
                return nil
            }
            if let refusal { answer.resume(throwing: refusal) }
        }
    }

    func take() -> Request? {
        queue.withLock { $0.requests.isEmpty ? nil : $0.requests.removeFirst() }
    }

    /// Refuses every request waiting now and every later one; the loop calls this as it stops.
    func close(_ error: QuiesceError) {
        let waiting = queue.withLock { queue in
            queue.closedBecause = error
            defer { queue.requests.removeAll() }
            return queue.requests
        }
        for request in waiting { request.answer.resume(throwing: error) }
    }
}
