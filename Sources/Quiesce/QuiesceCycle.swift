import AgentAPI
import Foundation
import Logging

/// One quiesce cycle and the startup recovery that finishes a crashed one.
///
/// The order is the safety argument: the marker is on disk before the first
/// stop; the backup is started only when every stop succeeded; and the
/// restart runs in a task of its own, which cancellation (SIGTERM) does not
/// reach, and which retries until every marker stack is up again.
public struct QuiesceCycle: Sendable {
    let agent: any BackupAgent
    let control: any StackControl
    let marker: MarkerFile
    let records: CycleStore
    let state: QuiesceState
    let settings: QuiesceSettings
    let logger: Logger

    public init(
        agent: any BackupAgent, control: any StackControl, marker: MarkerFile, records: CycleStore,
        state: QuiesceState, settings: QuiesceSettings, logger: Logger
    ) {
        self.agent = agent
        self.control = control
        self.marker = marker
        self.records = records
        self.state = state
        self.settings = settings
        self.logger = logger
    }

    /// Asks the agent; runs a cycle when a backup is due. `nil` when none was.
    public func runIfDue() async throws(QuiesceError) -> CycleRecord? {
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

    /// What happened between the first stop and the restart.
    private struct Quiesced {
        var downSince: [String: ContinuousClock.Instant] = [:]
        var backupID: String?
        var phase: BackupPhase?
        var failure: String?
        var cancelled = false
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
        var record = CycleRecord(
            id: cycleID, kind: action.kind, startedAt: Date(), finishedAt: nil, stacks: [], backupID: nil, phaseReached: nil,
            consistency: nil, outcome: .failed, error: nil, downtimeMs: [:])
        let metadata: Logger.Metadata = ["cycle": "\(cycleID)"]

        let appStacks: [AppStack]
        do {
            appStacks = try await control.runningAppStacks()
        } catch {
            record.error = "listing the running app stacks: \(error); nothing was stopped"
            return finish(record, metadata: metadata)
        }
        let stacks = appStacks.map(\.name)
        var current = QuiesceMarker(cycleID: cycleID, startedAt: record.startedAt, stacks: stacks, kind: action.kind)
        current.partialBefore = appStacks.filter { !$0.fullyRunning }.map(\.name)
        current.ownerPID = getpid()
        if case .rollback(let backupID) = action { current.backupID = backupID }
        do {
            try marker.write(current)
        } catch {
            record.error = "\(error); nothing was stopped"
            return finish(record, metadata: metadata)
        }
        record.stacks = stacks
        state.begin(current)
        logger.info("marker written", metadata: metadata.merging(["stacks": "\(stacks.joined(separator: ","))"]) { $1 })

        let quiesced = await quiesce(&current, action: action, metadata: metadata)
        record.backupID = quiesced.backupID
        record.phaseReached = quiesced.phase
        record.error = quiesced.failure

        // A task of its own: SIGTERM cancels the cycle's task, never the restart.
        let restarted = Task { [current] in
            await unquiesce(current, quiesced: quiesced, metadata: metadata)
        }
        let (downtime, stillDown, consistency) = await restarted.value
        record.downtimeMs = downtime
        record.consistency = consistency
        if !stillDown.isEmpty {
            record.error = [record.error, "still down at shutdown: \(stillDown.joined(separator: ", ")); the marker stays for the next start"]
                .compactMap { $0 }.joined(separator: "; ")
        }
        record.outcome = record.error == nil && (quiesced.phase == .snapshotted || quiesced.phase == .done) ? .succeeded : .failed
        return finish(record, metadata: metadata)
    }

    /// Stops the stacks, then backs up or rolls back, until the guest may resume.
    private func quiesce(_ current: inout QuiesceMarker, action: Action, metadata: Logger.Metadata) async -> Quiesced {
        var result = Quiesced()
        let deadline = ContinuousClock.now.advanced(by: settings.maxQuiesce)
        for stack in current.stacks {
            guard !Task.isCancelled else {
                result.failure = "the controller is shutting down"
                result.cancelled = true
                return result
            }
            result.downSince[stack] = .now
            logger.info("stopping stack", metadata: metadata.merging(["stack": "\(stack)"]) { $1 })
            do {
                try await control.stop(stack)
            } catch {
                result.failure = "stopping \(stack): \(error)"
                result.cancelled = Task.isCancelled
                return result
            }
        }

        switch action {
        case .backup:
            await backUp(&current, &result, deadline: deadline, metadata: metadata)
        case .rollback(let backupID):
            await rollBack(to: backupID, &current, &result, deadline: deadline, metadata: metadata)
        }
        return result
    }

    /// `POST /backup`, then polls until the guest may resume.
    private func backUp(_ current: inout QuiesceMarker, _ result: inout Quiesced, deadline: ContinuousClock.Instant, metadata: Logger.Metadata) async {
        do {
            let started = try await agent.startBackup(
                idempotencyKey: current.cycleID, StartBackupRequest(quiesced: true, stacks: current.stacks))
            current.backupID = started.response.backupID
            result.backupID = started.response.backupID
            result.phase = started.response.phase
            try marker.write(current)
            logger.info("backup started", metadata: metadata.merging(["backup_id": "\(started.response.backupID)"]) { $1 })
        } catch {
            result.failure = "starting the backup: \(error)"
            result.cancelled = Task.isCancelled
            return
        }

        var lastLogged = -1
        let backupID = result.backupID
        await poll(&result, deadline: deadline, what: "backup", metadata: metadata) {
            let status = try await agent.backupStatus(backupID: backupID)
            let percent = status.bytesTotal.map { $0 > 0 ? Int(status.bytesDone * 100 / $0) : 100 } ?? 0
            if percent / 10 != lastLogged / 10 || status.phase.releasesGuest {
                lastLogged = percent
                logger.info("backup progress", metadata: metadata.merging([
                    "phase": "\(status.phase.rawValue)", "bytes_done": "\(status.bytesDone)",
                    "bytes_total": "\(status.bytesTotal.map(String.init) ?? "?")", "percent": "\(percent)",
                ]) { $1 })
            }
            if status.phase == .failed { return (status.phase, .failed(status.error)) }
            return (status.phase, status.phase.releasesGuest ? .finished : .waiting)
        }
    }

    /// `POST /rollback`, then polls until the rollback is over or the bound is reached.
    private func rollBack(
        to backupID: String, _ current: inout QuiesceMarker, _ result: inout Quiesced,
        deadline: ContinuousClock.Instant, metadata: Logger.Metadata
    ) async {
        result.backupID = backupID
        let opID: String
        do {
            opID = try await agent.startRollback(backupID: backupID).opID
            current.rollbackOpID = opID
            try marker.write(current)
            result.phase = .queued
            logger.info("rollback started", metadata: metadata.merging(["backup_id": "\(backupID)", "op_id": "\(opID)"]) { $1 })
        } catch {
            result.failure = "starting the rollback: \(error)"
            result.cancelled = Task.isCancelled
            return
        }
        await poll(&result, deadline: deadline, what: "rollback", metadata: metadata) {
            let status = try await agent.rollbackStatus(opID: opID)
            switch status.phase {
            case .queued: return (.queued, .waiting)
            case .running: return (.running, .waiting)
            case .failed: return (.failed, .failed(status.error))
            case .done:
                logger.info("rollback done", metadata: metadata.merging(["op_id": "\(opID)"]) { $1 })
                return (.done, .finished)
            }
        }
    }

    /// What one status poll found.
    private enum PollVerdict {
        case waiting
        /// The guest may resume.
        case finished
        /// The agent reports the op failed, with its reason.
        case failed(String?)
    }

    /// Polls until `check` says the op is over, the bound is reached or the task is cancelled.
    /// Poll errors are retried: the agent may be restarting, and the bound ends the wait either way.
    private func poll(
        _ result: inout Quiesced, deadline: ContinuousClock.Instant, what: String, metadata: Logger.Metadata,
        check: () async throws -> (phase: BackupPhase, verdict: PollVerdict)
    ) async {
        while true {
            if Task.isCancelled {
                result.failure = "the controller is shutting down"
                result.cancelled = true
                return
            }
            if ContinuousClock.now >= deadline {
                result.failure = "max_quiesce_seconds reached before the \(what) released the guest; the agent finishes it without us"
                return
            }
            do {
                let (phase, verdict) = try await check()
                result.phase = phase
                switch verdict {
                case .waiting: break
                case .finished: return
                case .failed(let reason):
                    result.failure = "the agent reports the \(what) failed: \(reason ?? "no reason given")"
                    return
                }
            } catch {
                logger.warning("\(what) status poll failed; retrying until max_quiesce_seconds", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            let remaining = ContinuousClock.now.duration(to: deadline)
            try? await Task.sleep(for: min(settings.statusPollInterval, max(remaining, .milliseconds(1))))
        }
    }

    /// Tells the agent if the backup did not capture the stopped apps, then restarts every marker stack.
    private func unquiesce(
        _ current: QuiesceMarker, quiesced: Quiesced, metadata: Logger.Metadata
    ) async -> (downtime: [String: Int], stillDown: [String], consistency: BackupConsistency?) {
        var consistency: BackupConsistency? = nil
        if current.kind != .rollback, let backupID = current.backupID {
            consistency = await reportResumption(backupID: backupID, phase: quiesced.phase, metadata: metadata)
        }
        let deadline: ContinuousClock.Instant? = quiesced.cancelled ? .now.advanced(by: settings.shutdownRestartBudget) : nil
        let restarter = StackRestarter(control: control, settings: settings, logger: logger)
        let (upAt, stillDown) = await restarter.restart(current.stacks, partialBefore: Set(current.partialBefore ?? []), deadline: deadline)
        var downtime: [String: Int] = [:]
        for (stack, since) in quiesced.downSince {
            guard let up = upAt[stack] else { continue }
            let elapsed = since.duration(to: up)
            downtime[stack] = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            logger.info("stack up again", metadata: metadata.merging(["stack": "\(stack)", "downtime_ms": "\(downtime[stack]!)"]) { $1 })
        }
        if stillDown.isEmpty {
            do {
                try marker.clear()
                state.end()
            } catch {
                logger.error("clearing the marker failed; the next start restarts its stacks again, which is harmless", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
        }
        return (downtime, stillDown, consistency)
    }

    /// A backup that had not captured the data when the apps came back is only crash-consistent;
    /// the agent must record that. Returns the consistency the cycle records.
    func reportResumption(backupID: String, phase: BackupPhase?, metadata: Logger.Metadata) async -> BackupConsistency {
        if phase == .snapshotted || phase == .done { return .app }
        do {
            let status = try await agent.backupResumed(backupID: backupID)
            logger.info("told the agent the guest resumed early", metadata: metadata.merging([
                "backup_id": "\(backupID)", "consistency": "\(status.consistency.rawValue)",
            ]) { $1 })
            return status.consistency
        } catch {
            logger.error("could not tell the agent the guest resumed early; recording the backup as crash-consistent here", metadata: metadata.merging(["backup_id": "\(backupID)", "error": "\(error)"]) { $1 })
            return .crash
        }
    }

    private func finish(_ record: CycleRecord, metadata: Logger.Metadata) -> CycleRecord {
        var record = record
        record.finishedAt = Date()
        do {
            try records.save(record)
        } catch {
            logger.error("saving the cycle record failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        logger.info("quiesce cycle finished", metadata: metadata.merging([
            "outcome": "\(record.outcome.rawValue)", "backup_id": "\(record.backupID ?? "")",
            "error": "\(record.error ?? "")",
        ]) { $1 })
        return record
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
