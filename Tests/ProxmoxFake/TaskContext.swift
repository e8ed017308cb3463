import Foundation
import Synchronization

/// How a worker's run ends other than with `TASK OK`.
enum TaskEnd: Error, Sendable {
    /// SIGKILL (`killTask`, or the fake stopping): no more log lines, no cleanup, no `TASK` line.
    case killed
    /// SIGTERM (`DELETE …/tasks/{upid}`): the worker cleans up and dies "interrupted by signal".
    case interrupted
    /// `die` in the worker: `TASK ERROR: <message>`.
    case failed(String)
}

/// A worker's handle on its own task: its log, its pauses, and its changes to the node,
/// each of which is refused once the task has been killed.
struct TaskContext: Sendable {
    let fake: ProxmoxFake
    let upid: String

    /// Appends a log line; throws `.killed` when the process is gone.
    func log(_ line: String) throws(TaskEnd) {
        let alive = fake.state.withLock { state in
            state.withTask(upid) { task -> Bool in
                guard !task.killed else { return false }
                task.log.append(line)
                return true
            } ?? false
        }
        if !alive { throw .killed }
    }

    /// `WARN: …`, counted for the `TASK WARNINGS: n` line.
    func warn(_ text: String) throws(TaskEnd) {
        try log("WARN: " + text)
        fake.state.withLock { state in _ = state.withTask(upid) { $0.warnings += 1 } }
    }

    /// Throws when the task was killed, or `.interrupted` when it was asked to stop.
    func checkpoint() throws(TaskEnd) {
        let (killed, stop) = fake.state.withLock { state in
            state.withTask(upid) { ($0.killed, $0.stopRequested) } ?? (true, false)
        }
        if killed || Task.isCancelled { throw .killed }
        if stop { throw .interrupted }
    }

    /// Waits, noticing a kill or a stop request within a few milliseconds.
    func pause(_ duration: Duration) async throws(TaskEnd) {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: duration)
        while true {
            try checkpoint()
            let left = clock.now.duration(to: deadline)
            if left <= .zero { return }
            do {
                try await Task.sleep(for: min(left, .milliseconds(20)))
            } catch {
                throw .killed
            }
        }
    }

    /// Waits until `duration()` has passed since `start`, reading `duration` afresh on every poll,
    /// so a test that shortens the fake's timing releases a task already waiting.
    func pause(since start: ContinuousClock.Instant, _ duration: @Sendable () -> Duration) async throws(TaskEnd) {
        while true {
            try checkpoint()
            let left = ContinuousClock.now.duration(to: start.advanced(by: duration()))
            if left <= .zero { return }
            do {
                try await Task.sleep(for: min(left, .milliseconds(20)))
            } catch {
                throw .killed
            }
        }
    }

    /// Changes the node atomically with the check that the task is still alive.
    func mutate<T>(_ body: (inout FakeState) throws(TaskEnd) -> T) throws(TaskEnd) -> T {
        let result: Result<T, TaskEnd> = fake.state.withLock { state in
            guard let task = state.task(upid), !task.killed else { return .failure(.killed) }
            do throws(TaskEnd) {
                return .success(try body(&state))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }
}
