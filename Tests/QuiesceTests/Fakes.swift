import AgentAPI
import Foundation
import Stacks
import Synchronization
@testable import Quiesce

/// Stacks in memory: which are up, what was done to them, and scripted failures.
final class FakeStacks: StackControl, Sendable {
    struct State {
        var up: Set<String>
        var events: [String] = []
        var failStop: Set<String> = []
        /// How many starts of a stack fail before one succeeds.
        var failStarts: [String: Int] = [:]
        var protected: Set<String> = []
    }
    let state: Mutex<State>

    init(up: Set<String>, protected: Set<String> = []) {
        state = Mutex(State(up: up, protected: protected))
    }

    var events: [String] { state.withLock { $0.events } }
    var up: Set<String> { state.withLock { $0.up } }

    func runningAppStacks() async throws -> [AppStack] {
        state.withLock { $0.up.subtracting($0.protected).sorted().map { AppStack(name: $0, fullyRunning: true) } }
    }

    func stop(_ stack: String) async throws {
        try state.withLock { state in
            state.events.append("stop \(stack)")
            if state.failStop.contains(stack) { throw FakeError("stop \(stack) failed") }
            state.up.remove(stack)
        }
    }

    func start(_ stack: String) async throws {
        try state.withLock { state in
            state.events.append("start \(stack)")
            if let left = state.failStarts[stack], left > 0 {
                state.failStarts[stack] = left - 1
                throw FakeError("start \(stack) failed")
            }
            state.up.insert(stack)
        }
    }

    func status(_ stack: String) async throws -> StackStatus {
        state.withLock { $0.up.contains(stack) ? .running : .stopped }
    }

    func waitForOrphanedOperations(_ stacks: [String]) async {}
}

/// The agent in memory: a scripted answer for each call.
final class FakeAgent: BackupAgent, Sendable {
    struct State {
        var due = true
        var startError: AgentClientError?
        /// The phases `backupStatus` returns in turn; the last one repeats.
        var phases: [BackupPhase] = [.running, .done]
        var statusError: AgentClientError?
        var preflightError: AgentClientError?
        /// The phases `rollbackStatus` returns in turn; the last one repeats.
        var rollbackPhases: [RollbackPhase] = [.done]
        var rollbackStatusError: AgentClientError?
        var rollbackStartError: AgentClientError?
        /// What `GET /rollback/status` without an id answers.
        var latestRollback: RollbackStatus?
        /// A cancel makes the op end `failed` at the next poll.
        var cancelled: [String] = []
        var resumed: [String] = []
        var calls: [String] = []
    }
    let state: Mutex<State>

    init(_ configure: (inout State) -> Void = { _ in }) {
        var initial = State()
        configure(&initial)
        state = Mutex(initial)
    }

    var resumed: [String] { state.withLock { $0.resumed } }
    var calls: [String] { state.withLock { $0.calls } }

    func backupDue() async throws(AgentClientError) -> BackupDue {
        let due = state.withLock { $0.due }
        return BackupDue(due: due, reason: due ? .schedule : nil, nextDueAt: nil, lastBackupAt: nil)
    }

    func prepareBackup(idempotencyKey: String) async throws(AgentClientError) -> (response: StartBackupResponse, created: Bool) {
        state.withLock { $0.calls.append("prepare") }
        throw .http(status: 404, code: "not_found", message: "this fake has no prepare")
    }

    func startBackup(idempotencyKey: String, _ request: StartBackupRequest) async throws(AgentClientError) -> (response: StartBackupResponse, created: Bool) {
        let error = state.withLock { state in
            state.calls.append("start \(request.stacks.joined(separator: ","))")
            return state.startError
        }
        if let error { throw error }
        return (StartBackupResponse(backupID: "b-1", phase: .queued), true)
    }

    func backupStatus(backupID: String?) async throws(AgentClientError) -> BackupStatus {
        let (phase, error): (BackupPhase, AgentClientError?) = state.withLock { state in
            state.calls.append("status")
            let phase = state.phases.count > 1 ? state.phases.removeFirst() : state.phases[0]
            return (phase, state.statusError)
        }
        if let error { throw error }
        return status(phase)
    }

    func backupResumed(backupID: String) async throws(AgentClientError) -> BackupStatus {
        state.withLock { $0.resumed.append(backupID) }
        return BackupStatus(backupID: backupID, phase: .running, consistency: .crash, startedAt: Date(), finishedAt: nil, bytesDone: 0, bytesTotal: nil, error: nil)
    }

    func backups() async throws(AgentClientError) -> [BackupStatus] { [] }
    func rollbackPreflight(backupID: String) async throws(AgentClientError) -> RollbackPreflight {
        let error = state.withLock { state in
            state.calls.append("preflight \(backupID)")
            return state.preflightError
        }
        if let error { throw error }
        return RollbackPreflight(backupID: backupID, dataBytes: 1)
    }

    func startRollback(backupID: String, idempotencyKey: String?) async throws(AgentClientError) -> RollbackStarted {
        let error = state.withLock { state in
            state.calls.append("rollback \(backupID)")
            return state.rollbackStartError
        }
        if let error { throw error }
        return RollbackStarted(opID: "r-1")
    }

    func rollbackStatus(opID: String) async throws(AgentClientError) -> RollbackStatus {
        let (phase, error): (RollbackPhase, AgentClientError?) = state.withLock { state in
            state.calls.append("rollback status")
            if !state.cancelled.isEmpty, state.rollbackStatusError == nil { return (.failed, nil) }
            let phase = state.rollbackPhases.count > 1 ? state.rollbackPhases.removeFirst() : state.rollbackPhases[0]
            return (phase, state.rollbackStatusError)
        }
        if let error { throw error }
        return RollbackStatus(opID: opID, phase: phase, error: phase == .failed ? "cancelled before the swap" : nil)
    }

    func latestRollbackStatus() async throws(AgentClientError) -> RollbackStatus? {
        state.withLock { state in
            state.calls.append("latest rollback")
            return state.latestRollback
        }
    }

    func cancelRollback(opID: String) async throws(AgentClientError) -> RollbackStatus {
        state.withLock { state in
            state.calls.append("cancel \(opID)")
            state.cancelled.append(opID)
        }
        return RollbackStatus(opID: opID, phase: .running, error: nil)
    }
    func restoreTestStatus() async throws(AgentClientError) -> RestoreTestStatus { RestoreTestStatus(backupID: nil, startedAt: nil, finishedAt: nil, result: nil, checks: [], nextDueAt: nil) }

    private func status(_ phase: BackupPhase) -> BackupStatus {
        BackupStatus(
            backupID: "b-1", phase: phase, consistency: .app, startedAt: Date(), finishedAt: nil, bytesDone: 1,
            bytesTotal: 2, error: phase == .failed ? "disk full" : nil)
    }
}

struct FakeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Virtual time: `sleep` moves the clock forward at once, so a bound of half an hour passes in microseconds.
final class ManualClock: QuiesceClock, Sendable {
    private let state = Mutex<(now: Duration, sleeps: [Duration])>((.zero, []))

    var now: Duration { state.withLock { $0.now } }
    /// Every sleep asked for, in order.
    var sleeps: [Duration] { state.withLock { $0.sleeps } }

    func sleep(for duration: Duration) async {
        state.withLock { state in
            state.now += duration
            state.sleeps.append(duration)
        }
        await Task.yield()
    }
}
