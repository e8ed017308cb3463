import AgentAPI
import Foundation
import Logging

/// One quiesce cycle and the startup recovery that finishes a crashed one: the checks before
/// a cycle may begin, then ``CycleMachine`` decides and ``CycleDriver`` acts.
public struct QuiesceCycle: Sendable {
    /// `nil` when the config names no agent: recovery still restarts a marker's stacks.
    let agent: (any BackupAgent)?
    let control: any StackControl
    let marker: MarkerFile
    let records: CycleStore
    let state: QuiesceState
    let settings: QuiesceSettings
    let clock: any QuiesceClock
    let logger: Logger

    public init(
        agent: (any BackupAgent)?, control: any StackControl, marker: MarkerFile, records: CycleStore,
        state: QuiesceState, settings: QuiesceSettings, clock: any QuiesceClock = SystemQuiesceClock(), logger: Logger
    ) {
        self.agent = agent
        self.control = control
        self.marker = marker
        self.records = records
        self.state = state
        self.settings = settings
        self.clock = clock
        self.logger = logger
    }

    /// Asks the agent; runs a cycle when a backup is due. `nil` when none was.
    public func runIfDue() async throws(QuiesceError) -> CycleRecord? {
        guard let agent else { throw QuiesceError(.agent, "no `agent` section in the config; nothing is backed up") }
        let due: BackupDue
        do {
            due = try await agent.backupDue()
        } catch {
            throw QuiesceError(.agent, "asking the agent whether a backup is due: \(error)")
        }
        guard due.due else { return nil }
        logger.info("backup due", metadata: ["reason": "\(due.reason?.rawValue ?? "")"])
        return try await run(.backup)
    }

    /// What a cycle does while the stacks are down.
    public enum Action: Sendable, Equatable {
        case backup
        /// Restore the guest's data to this backup.
        case rollback(backupID: String)

        var kind: CycleKind {
            switch self {
            case .backup: .backup
            case .rollback: .rollback
            }
        }
    }

    /// Runs one cycle now, whether or not a backup is due.
    /// - Parameter claimed: called once the cycle holds the loop and is about to write its marker.
    /// - Throws: `busy` when another cycle runs in this process or a marker is still waiting for recovery.
    public func run(_ action: Action, claimed: @Sendable () -> Void = {}) async throws(QuiesceError) -> CycleRecord {
        if case .rollback(let backupID) = action, !AgentID.isValid(backupID, kind: .backup) {
            throw QuiesceError(.invalidRequest, "backup id must look like \(AgentID.example(.backup)); nothing was stopped")
        }
        guard state.reserve() else {
            throw QuiesceError(.busy, "another quiesce cycle or a customer's stack operation is running; try again when it has finished")
        }
        defer { state.release() }
        if let existing = try marker.read() {
            if MarkerFile.isOwnedByLiveController(existing) {
                throw QuiesceError(.busy, "controller pid \(existing.ownerPID ?? 0) is running a cycle; try again when it has finished")
            }
            throw QuiesceError(.busy, "a marker from an unfinished cycle exists; `felhom-controller recover` restarts its stacks first")
        }
        if case .rollback(let backupID) = action {
            try await preflight(backupID)
        }
        claimed()
        return await runReserved(action)
    }

    /// Asks the agent whether a rollback to `backupID` would start, before the marker and the
    /// first stop: a wrong id or a backup that cannot be restored costs no downtime and no cycle record.
    private func preflight(_ backupID: String) async throws(QuiesceError) {
        guard let agent else {
            throw QuiesceError(.agent, "no `agent` section in the config, so nothing can be rolled back; nothing was stopped")
        }
        do {
            let answer = try await agent.rollbackPreflight(backupID: backupID)
            logger.info("rollback pre-flight passed", metadata: ["backup_id": "\(backupID)", "data_bytes": "\(answer.dataBytes)"])
        } catch {
            logger.warning("rollback refused before anything was stopped", metadata: ["backup_id": "\(backupID)", "error": "\(error)"])
            let code: QuiesceError.Code = error.httpStatus == 404 || error.httpStatus == 409 ? .invalidRequest : .agent
            throw QuiesceError(code, "the agent refuses a rollback to \(backupID): \(error); nothing was stopped")
        }
    }

    private func runReserved(_ action: Action) async -> CycleRecord {
        let cycleID = CycleID.make()
        let startedAt = Date()
        let shutdown = ShutdownFlag(clock: clock)
        let appStacks: [AppStack]
        do {
            appStacks = try await control.runningAppStacks()
        } catch {
            let record = CycleRecord(
                id: cycleID, kind: action.kind, startedAt: startedAt, finishedAt: Date(), stacks: [], backupID: nil, phaseReached: nil,
                consistency: nil, outcome: .failed, error: "listing the running app stacks: \(error); nothing was stopped", downtimeMs: [:])
            return driver.save(record)
        }
        var marker = QuiesceMarker(cycleID: cycleID, startedAt: startedAt, stacks: appStacks.map(\.name), kind: action.kind)
        marker.partialBefore = appStacks.filter { !$0.fullyRunning }.map(\.name)
        MarkerFile.claim(&marker)
        if case .rollback(let backupID) = action { marker.backupID = backupID }
        return await drive(.live(marker), startedAt: startedAt, shutdown: shutdown)
    }

    /// Runs `machine` in a task of its own: SIGTERM must not cut a restart short, so it only raises
    /// the flag the driver reads between steps, and the machine decides what shutting down means.
    func drive(_ machine: CycleMachine, startedAt: Date, shutdown: ShutdownFlag) async -> CycleRecord {
        if Task.isCancelled { shutdown.raise() }
        let driver = self.driver
        let task = Task { await driver.run(machine, startedAt: startedAt, shutdown: shutdown) }
        return await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            shutdown.raise()
        }
    }

    var driver: CycleDriver {
        CycleDriver(agent: agent, control: control, marker: marker, records: records, state: state, settings: settings, clock: clock, logger: logger)
    }
}

/// Cycle ids sort by time: `c-20261125T020000Z-1a2b3c4d`.
enum CycleID {
    static func make(at date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let suffix = String(UInt32.random(in: .min ... .max), radix: 16)
        return "c-\(formatter.string(from: date))-\(suffix)"
    }
}
