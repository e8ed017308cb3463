import AgentAPI
import Foundation
import Logging
import Synchronization

/// Set once when the controller begins to shut down, with the time it was; the driver and the
/// restarter read it between steps, and the shutdown budget counts from that time.
final class ShutdownFlag: Sendable {
    private let clock: any QuiesceClock
    private let raisedAt = Mutex<Duration?>(nil)

    init(clock: any QuiesceClock) {
        self.clock = clock
    }

    func raise() {
        let now = clock.now
        raisedAt.withLock { if $0 == nil { $0 = now } }
    }

    var isRaised: Bool { raisedAt.withLock { $0 != nil } }
    /// When the shutdown began; `nil` while none has.
    var since: Duration? { raisedAt.withLock { $0 } }
}

/// Performs a ``CycleMachine``'s actions against the agent, the stacks and the marker file,
/// and feeds each result back as an event. It decides nothing the machine can decide.
///
/// Three things reach the machine from outside its own actions, and the driver raises them
/// only where the machine waits, before a stop or a poll: a shutdown, the end of the shutdown
/// budget while a rollback op is being cancelled, and the max-quiesce bound.
struct CycleDriver: Sendable {
    /// `nil` when the config names no agent: every call then fails, and only recovery does anything.
    let agent: (any BackupAgent)?
    let control: any StackControl
    let marker: MarkerFile
    let records: CycleStore
    let state: QuiesceState
    let settings: QuiesceSettings
    let clock: any QuiesceClock
    let logger: Logger

    private func requireAgent() throws(AgentClientError) -> any BackupAgent {
        guard let agent else { throw .invalidConfiguration("no `agent` section in the config") }
        return agent
    }

    /// How often a wait for an unreachable agent is logged while the stacks stay down.
    static let waitLogInterval = Duration.seconds(60)

    /// Mutable bookkeeping of one run: what only the driver sees.
    private struct Run {
        var downSince: [String: Duration] = [:]
        var upAt: [String: Duration] = [:]
        var deadline: Duration?
        var lastWaitLog: Duration?
        var lastProgressDecile = -1
        var markerOnDisk = false
        var reached: Set<String> = []
        var prepareDeadline: Duration?
        /// What the agent last said of the capture, for the cycle's record.
        var captureMethod: BackupCaptureMethod?
        var captureReason: String?
        var captureWindowMs: Int64?
    }

    /// Each named point once per run, for the crash tests.
    private func failpoint(_ name: String, _ run: inout Run) async {
        guard ControllerFailpoint.active != nil, run.reached.insert(name).inserted else { return }
        await ControllerFailpoint.reach(name, logger: logger)
    }

    /// Runs `machine` to its end and returns the cycle's record.
    func run(_ initial: CycleMachine, startedAt: Date, shutdown: ShutdownFlag) async -> CycleRecord {
        var machine = initial
        var run = Run()
        // The bound counts from the marker, the moment before the first stop; prepare has its own.
        if !machine.isRecovery, !machine.isPreparing { run.deadline = clock.now + settings.maxQuiesce }
        if machine.isPreparing { run.prepareDeadline = clock.now + settings.maxPrepare }
        let metadata: Logger.Metadata = ["cycle": "\(machine.marker.cycleID)"]
        var queue = machine.start()
        var record: CycleRecord?
        while !queue.isEmpty {
            let action = queue.removeFirst()
            if action.waitsFirst {
                let deadline = machine.isPreparing ? run.prepareDeadline : machine.boundReached ? nil : run.deadline
                await pause(until: deadline, interval: pollInterval(for: action, machine), shutdown: shutdown)
            }
            if action.isWaitPoint, let interruption = interruption(machine, &run, shutdown: shutdown) {
                let replacement = machine.handle(interruption)
                logger.info("cycle interrupted", metadata: metadata.merging(["event": "\(interruption)"]) { $1 })
                if !replacement.isEmpty {
                    queue = replacement
                    continue
                }
            }
            if case .record(let outcome) = action {
                record = save(machine, outcome: outcome, run: run, startedAt: startedAt, metadata: metadata)
                continue
            }
            if let event = await perform(action, machine: machine, run: &run, shutdown: shutdown, metadata: metadata) {
                queue += machine.handle(event)
            }
        }
        if machine.abandoned {
            logger.notice("another controller process took this cycle over; leaving its stacks to it", metadata: metadata)
            state.end()
            return build(machine, outcome: .failed, run: run, startedAt: startedAt)
        }
        return record ?? save(machine, outcome: .failed, run: run, startedAt: startedAt, metadata: metadata)
    }

    /// The event the outside world raises at a wait point, if any.
    private func interruption(_ machine: CycleMachine, _ run: inout Run, shutdown: ShutdownFlag) -> CycleMachine.Event? {
        let now = clock.now
        if run.markerOnDisk, !ownsMarker(machine.marker) {
            return .markerTakenOver
        }
        if shutdown.isRaised, !machine.shuttingDown {
            return .shutdownRequested
        }
        if let since = shutdown.since, machine.isWaitingForRollbackOp, now >= since + settings.shutdownRestartBudget {
            return .shutdownBudgetSpent
        }
        if let deadline = run.deadline, now >= deadline, !machine.boundReached {
            return .boundReached
        }
        if machine.isPreparing, let deadline = run.prepareDeadline, now >= deadline {
            return .prepareBoundReached
        }
        return nil
    }

    /// The window is short once a capture was prepared: polled fast, every poll of it is downtime.
    private func pollInterval(for action: CycleMachine.Action, _ machine: CycleMachine) -> Duration {
        if case .pollBackup = action, machine.prepareID != nil, machine.prepareProblem == nil {
            return min(settings.windowPollInterval, settings.statusPollInterval)
        }
        return settings.statusPollInterval
    }

    /// Whether the marker on disk is still this run's: same cycle, and owned by this process.
    /// `recover --force` in another process rewrites the owner, then clears the marker.
    private func ownsMarker(_ mine: QuiesceMarker) -> Bool {
        let onDisk: QuiesceMarker?
        do {
            onDisk = try marker.read()
        } catch {
            return true  // unreadable: keep going; the stacks still need this run
        }
        guard let onDisk else { return false }
        // A dead owner is still ours: recovery may have failed to write its own pid over it.
        return onDisk.cycleID == mine.cycleID && !MarkerFile.isOwnedByLiveController(onDisk)
    }

    /// Waits one status-poll interval, less when a bound still ahead comes first or a shutdown begins.
    /// Past the bound a rollback is still polled, at the same pace, until its op is final.
    private func pause(until deadline: Duration?, interval: Duration, shutdown: ShutdownFlag) async {
        let end = min(clock.now + interval, deadline ?? .seconds(Int64.max / 2))
        let alreadyShuttingDown = shutdown.isRaised
        while alreadyShuttingDown || !shutdown.isRaised, clock.now < end {
            await clock.sleep(for: min(.milliseconds(250), end - clock.now))
        }
    }

    private func perform(
        _ action: CycleMachine.Action, machine: CycleMachine, run: inout Run, shutdown: ShutdownFlag, metadata: Logger.Metadata
    ) async -> CycleMachine.Event? {
        switch action {
        case .prepareBackup(let key):
            do {
                let started = try await requireAgent().prepareBackup(idempotencyKey: key)
                logger.info("backup prepare started", metadata: metadata.merging(["backup_id": "\(started.response.backupID)"]) { $1 })
                return .prepareStarted(backupID: started.response.backupID)
            } catch {
                if let status = error.httpStatus, status == 409 || status == 429 {
                    logger.warning("the agent refused the prepare; nothing is stopped", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                    return .prepareRefused("\(error)")
                }
                logger.warning("POST /backup/prepare failed; the backup goes on with the apps down for the whole archive", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                return .prepareFailed("\(error)")
            }

        case .pollPrepare(let backupID, _):
            do {
                let status = try await requireAgent().backupStatus(backupID: backupID)
                run.captureMethod = status.captureMethod
                run.captureReason = status.captureReason
                if status.phase == .ready {
                    logger.info("backup ready", metadata: metadata.merging(["backup_id": "\(backupID)", "capture": "\(status.captureMethod?.rawValue ?? "?")"]) { $1 })
                } else if status.phase == .failed {
                    logger.warning("prepare failed; the backup goes on with the apps down for the whole archive", metadata: metadata.merging(["backup_id": "\(backupID)", "error": "\(status.error ?? "")"]) { $1 })
                }
                return .preparePolled(status.phase, error: status.error)
            } catch {
                logger.warning("prepare status poll failed; retrying until max_prepare_seconds", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                return .pollFailed("\(error)")
            }

        case .listStacks:
            do {
                let stacks = try await control.runningAppStacks()
                return .stacksListed(stacks: stacks.map(\.name), partialBefore: stacks.filter { !$0.fullyRunning }.map(\.name))
            } catch {
                return .stackListFailed("\(error)")
            }

        case .writeMarker(let current):
            do {
                try marker.write(current)
                if !run.markerOnDisk {
                    run.markerOnDisk = true
                    if run.deadline == nil, !machine.isRecovery { run.deadline = clock.now + settings.maxQuiesce }
                    state.begin(current)
                    logger.info("marker written", metadata: metadata.merging(["stacks": "\(current.stacks.joined(separator: ","))"]) { $1 })
                    await failpoint(ControllerFailpoint.afterMarker, &run)
                } else if current.rollbackOpID != nil || (current.kind != .rollback && current.backupID != nil) {
                    await failpoint(ControllerFailpoint.afterStart, &run)
                }
                return .markerWritten
            } catch {
                logger.error("writing the marker failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                return .markerWriteFailed("\(error)")
            }

        case .waitForOrphanedOperations(let stacks):
            run.markerOnDisk = true
            state.begin(machine.marker)
            await control.waitForOrphanedOperations(stacks)
            return nil

        case .stopAll(let stacks):
            for stack in stacks { run.downSince[stack] = clock.now }
            logger.info("stopping stacks", metadata: metadata.merging(["stacks": "\(stacks.joined(separator: ","))"]) { $1 })
            var rest = stacks[...]
            // The crash test's point needs one stack stopped and the others not yet: that one goes alone.
            if ControllerFailpoint.active == ControllerFailpoint.afterFirstStop, let first = rest.popFirst() {
                if let failure = await stop(first) { return failure }
                await failpoint(ControllerFailpoint.afterFirstStop, &run)
            }
            let failures = await withTaskGroup(of: CycleMachine.Event?.self) { group in
                for stack in rest {
                    group.addTask { await stop(stack) }
                }
                var failures: [CycleMachine.Event] = []
                for await failure in group { if let failure { failures.append(failure) } }
                return failures
            }
            return failures.first ?? .allStopped

        case .startBackup(let key, let stacks, let prepareID):
            do {
                let request = StartBackupRequest(quiesced: true, stacks: stacks, prepareID: prepareID)
                let started = try await requireAgent().startBackup(idempotencyKey: key, request)
                logger.info("backup started", metadata: metadata.merging(["backup_id": "\(started.response.backupID)"]) { $1 })
                return .backupStarted(backupID: started.response.backupID, phase: started.response.phase)
            } catch {
                return .startFailed("\(error)")
            }

        case .startRollback(let backupID, let key, _):
            do {
                let opID = try await requireAgent().startRollback(backupID: backupID, idempotencyKey: key).opID
                logger.info("rollback started", metadata: metadata.merging(["backup_id": "\(backupID)", "op_id": "\(opID)"]) { $1 })
                return .rollbackStarted(opID: opID)
            } catch {
                let status = error.httpStatus ?? 0
                if !(400..<500).contains(status) {
                    logWaiting(for: nil, error: error, run: &run, metadata: metadata)
                }
                return .startFailed("\(error)", definite: (400..<500).contains(status))
            }

        case .pollBackup(let backupID, _):
            do {
                let status = try await requireAgent().backupStatus(backupID: backupID)
                run.captureMethod = status.captureMethod ?? run.captureMethod
                run.captureReason = status.captureReason ?? run.captureReason
                run.captureWindowMs = status.captureWindowMs ?? run.captureWindowMs
                logProgress(status, run: &run, metadata: metadata)
                if !status.phase.releasesGuest, status.phase != .failed { await failpoint(ControllerFailpoint.polling, &run) }
                return .backupPolled(status.phase, error: status.error)
            } catch {
                logger.warning("backup status poll failed; retrying until max_quiesce_seconds", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                return .pollFailed("\(error)")
            }

        case .pollRollback(let opID, _):
            do {
                let status = try await requireAgent().rollbackStatus(opID: opID)
                state.setWaiting(nil)
                if status.phase.isFinal {
                    logger.info("rollback \(status.phase.rawValue)", metadata: metadata.merging(["op_id": "\(opID)"]) { $1 })
                } else {
                    await failpoint(ControllerFailpoint.polling, &run)
                }
                return .rollbackPolled(status.phase, error: status.error)
            } catch .http(404, _, _) {
                logger.error("the agent does not know the rollback op; nothing to wait for", metadata: metadata.merging(["op_id": "\(opID)"]) { $1 })
                return .rollbackOpUnknown
            } catch {
                logWaiting(for: opID, error: error, run: &run, metadata: metadata)
                return .pollFailed("\(error)")
            }

        case .findRollbackOp:
            do {
                let latest = try await requireAgent().latestRollbackStatus()
                state.setWaiting(nil)
                return .rollbackOpFound(opID: latest?.opID, phase: latest?.phase)
            } catch {
                logWaiting(for: nil, error: error, run: &run, metadata: metadata)
                return .pollFailed("\(error)")
            }

        case .cancelRollback(let opID):
            do {
                let status = try await requireAgent().cancelRollback(opID: opID)
                logger.notice("asked the agent to cancel the rollback", metadata: metadata.merging(["op_id": "\(opID)", "phase": "\(status.phase.rawValue)"]) { $1 })
            } catch {
                logger.error("asking the agent to cancel the rollback failed; the stacks stay down until the op is final", metadata: metadata.merging(["op_id": "\(opID)", "error": "\(error)"]) { $1 })
            }
            return nil

        case .reportResumed(let backupID):
            do {
                let status = try await requireAgent().backupResumed(backupID: backupID)
                logger.info("told the agent the guest resumed early", metadata: metadata.merging([
                    "backup_id": "\(backupID)", "consistency": "\(status.consistency.rawValue)",
                ]) { $1 })
                return .resumeReported(status.consistency)
            } catch {
                logger.error("could not tell the agent the guest resumed early; recording the backup as crash-consistent here", metadata: metadata.merging(["backup_id": "\(backupID)", "error": "\(error)"]) { $1 })
                return .resumeReported(.crash)
            }

        case .restart(let stacks, let partialBefore, _):
            // The flag, not the action: a shutdown that begins during the restart bounds it too.
            let restarter = StackRestarter(control: control, settings: settings, clock: clock, logger: logger)
            let budget = settings.shutdownRestartBudget
            let (upAt, stillDown) = await restarter.restart(stacks, partialBefore: partialBefore) { shutdown.since.map { $0 + budget } }
            run.upAt = upAt
            return .restartFinished(stillDown: stillDown)

        case .clearMarker:
            do {
                try marker.clear()
                state.end()
            } catch {
                logger.error("clearing the marker failed; the next start restarts its stacks again, which is harmless", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            return nil

        case .record:
            return nil
        }
    }

    /// Stops one stack; the machine's event when it failed, `nil` when it stopped.
    private func stop(_ stack: String) async -> CycleMachine.Event? {
        do {
            try await control.stop(stack)
            return nil
        } catch {
            return .stopFailed(stack: stack, error: "\(error)")
        }
    }

    private func logProgress(_ status: BackupStatus, run: inout Run, metadata: Logger.Metadata) {
        let percent = status.bytesTotal.map { $0 > 0 ? Int(status.bytesDone * 100 / $0) : 100 } ?? 0
        guard percent / 10 != run.lastProgressDecile / 10 || status.phase.releasesGuest else { return }
        run.lastProgressDecile = percent
        logger.info("backup progress", metadata: metadata.merging([
            "phase": "\(status.phase.rawValue)", "bytes_done": "\(status.bytesDone)",
            "bytes_total": "\(status.bytesTotal.map(String.init) ?? "?")", "percent": "\(percent)",
        ]) { $1 })
    }

    /// Once a minute at most: the stacks stay down because the agent's op may still swap the data dir.
    private func logWaiting(for opID: String?, error: any Error, run: inout Run, metadata: Logger.Metadata) {
        let reason = "the agent does not answer (\(error)); the stacks stay down until it says rollback op \(opID ?? "(id not yet known)") is final, or `felhom-controller recover --force` restarts them"
        state.setWaiting(reason)
        if let last = run.lastWaitLog, clock.now < last + Self.waitLogInterval { return }
        run.lastWaitLog = clock.now
        logger.warning("waiting for the agent's rollback op", metadata: metadata.merging(["reason": "\(reason)"]) { $1 })
    }

    private func save(_ machine: CycleMachine, outcome: CycleOutcome, run: Run, startedAt: Date, metadata: Logger.Metadata) -> CycleRecord {
        save(build(machine, outcome: outcome, run: run, startedAt: startedAt))
    }

    private func build(_ machine: CycleMachine, outcome: CycleOutcome, run: Run, startedAt: Date) -> CycleRecord {
        let metadata: Logger.Metadata = ["cycle": "\(machine.marker.cycleID)"]
        var downtime: [String: Int] = [:]
        for (stack, since) in run.downSince {
            guard let up = run.upAt[stack] else { continue }
            let elapsed = up - since
            downtime[stack] = Int(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            logger.info("stack up again", metadata: metadata.merging(["stack": "\(stack)", "downtime_ms": "\(downtime[stack]!)"]) { $1 })
        }
        let marker = machine.marker
        return CycleRecord(
            id: marker.cycleID, kind: marker.kind ?? .backup, startedAt: startedAt, finishedAt: Date(),
            stacks: run.markerOnDisk ? marker.stacks : [], backupID: marker.backupID, phaseReached: machine.phaseReached,
            consistency: machine.consistency, outcome: outcome, error: machine.failure, downtimeMs: downtime,
            captureMethod: machine.prepareProblem == nil ? run.captureMethod : BackupCaptureMethod.none,
            captureReason: machine.prepareProblem ?? run.captureReason, captureWindowMs: run.captureWindowMs)
    }

    /// Stores `record`, finished now, and logs its outcome.
    func save(_ record: CycleRecord) -> CycleRecord {
        var record = record
        record.finishedAt = Date()
        let metadata: Logger.Metadata = ["cycle": "\(record.id)"]
        do {
            try records.save(record)
        } catch {
            logger.error("saving the cycle record failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        logger.info("quiesce cycle finished", metadata: metadata.merging([
            "outcome": "\(record.outcome.rawValue)", "backup_id": "\(record.backupID ?? "")", "error": "\(record.error ?? "")",
        ]) { $1 })
        return record
    }
}

extension CycleMachine.Action {
    /// Actions the driver performs only after one status-poll interval.
    var waitsFirst: Bool {
        switch self {
        case .pollBackup(_, let after), .pollRollback(_, let after), .findRollbackOp(let after), .startRollback(_, _, let after),
             .pollPrepare(_, let after): after
        default: false
        }
    }

    /// Where the machine waits on the world, so a shutdown or the bound may come first.
    var isWaitPoint: Bool {
        switch self {
        // A shutdown or the bound that came during the stops is seen before the backup is asked for.
        case .stopAll, .startBackup, .pollBackup, .pollRollback, .findRollbackOp, .pollPrepare: true
        // A retry of a POST whose answer was lost; the first POST goes out as soon as the stops are done.
        case .startRollback(_, _, let retry): retry
        default: false
        }
    }
}
