import AgentAPI

/// Every decision of a quiesce cycle, and of the recovery of a crashed one, with no I/O.
///
/// Events go in (the stacks stopped, the agent answered, the bound passed, a shutdown began);
/// actions come out (write the marker, stop a stack, poll, cancel, restart, record). A thin
/// driver, ``CycleDriver``, performs the actions and feeds their results back. The marker is
/// the machine's durable state: recovery builds the same machine from it, so a crashed cycle
/// and a live one end through the same finish path.
///
/// The safety rules live here, where a unit test can reach every one of them:
/// - nothing is stopped before the marker is on disk;
/// - a backup cycle always restarts its stacks: at its end, on any failure, at the bound and
///   on shutdown, because a stranded app is worse than a crash-consistent backup;
/// - a rollback cycle never restarts its stacks while the agent's rollback op may still be
///   queued or running: at the bound and on shutdown it asks the agent to cancel and waits
///   for the op to be final, and while the agent cannot be reached the stacks stay down.
public struct CycleMachine: Sendable, Equatable {
    public enum Event: Sendable, Equatable {
        /// `POST /backup/prepare` answered with this backup id.
        case prepareStarted(backupID: String)
        /// `POST /backup/prepare` failed; the backup goes on without a capture made ahead.
        case prepareFailed(String)
        /// The agent refused the prepare outright (a backup in flight, the daily limit): it would refuse
        /// `POST /backup` too, so nothing is stopped.
        case prepareRefused(String)
        case preparePolled(BackupPhase, error: String?)
        /// Prepare took longer than its bound; the backup goes on without it.
        case prepareBoundReached
        /// The app stacks running now, listed once prepare is over: the ones the marker names.
        case stacksListed(stacks: [String], partialBefore: [String])
        case stackListFailed(String)
        case markerWritten
        case markerWriteFailed(String)
        /// Every stack the marker names is stopped.
        case allStopped
        case stopFailed(stack: String, error: String)
        case backupStarted(backupID: String, phase: BackupPhase)
        case rollbackStarted(opID: String)
        /// `POST /backup` or `POST /rollback` failed. `definite` when the agent refused (4xx):
        /// otherwise the request may have reached it, and a rollback op may exist.
        case startFailed(String, definite: Bool = true)
        case backupPolled(BackupPhase, error: String?)
        case rollbackPolled(RollbackPhase, error: String?)
        /// The agent's newest rollback op of this guest, asked for when the op id is unknown; `nil` for none.
        case rollbackOpFound(opID: String?, phase: RollbackPhase?)
        case pollFailed(String)
        case boundReached
        case shutdownRequested
        /// Shutting down, the agent's op did not become final within the shutdown budget.
        case shutdownBudgetSpent
        /// The agent does not know the rollback op (404): there is nothing to wait for.
        case rollbackOpUnknown
        /// Another process took the marker over (`recover --force`) or finished it: this run stops here.
        case markerTakenOver
        case resumeReported(BackupConsistency)
        case restartFinished(stillDown: [String])
    }

    public enum Action: Sendable, Equatable {
        /// Before anything is stopped: the agent makes its capture while the apps run.
        case prepareBackup(idempotencyKey: String)
        case pollPrepare(backupID: String, afterInterval: Bool)
        /// Lists the running app stacks again: a prepare can take long, and the marker must name what runs now.
        case listStacks
        case writeMarker(QuiesceMarker)
        /// Recovery: let a compose process the dead controller left finish first.
        case waitForOrphanedOperations([String])
        /// Stops the stacks together: downtime is the slowest stop, not the sum of them.
        case stopAll([String])
        /// `prepareID`: the prepare whose capture the window completes; `nil` when there is none.
        case startBackup(idempotencyKey: String, stacks: [String], prepareID: String?)
        /// With the cycle id as its idempotency key, so a retry never starts a second op.
        case startRollback(backupID: String, idempotencyKey: String, afterInterval: Bool)
        /// `afterInterval`: wait the status poll interval first.
        case pollBackup(backupID: String, afterInterval: Bool)
        case pollRollback(opID: String, afterInterval: Bool)
        case findRollbackOp(afterInterval: Bool)
        case cancelRollback(opID: String)
        case reportResumed(backupID: String)
        /// `shuttingDown`: retry only within the shutdown budget, then leave the rest to the marker.
        case restart(stacks: [String], partialBefore: Set<String>, shuttingDown: Bool)
        case clearMarker
        case record(CycleOutcome)
    }

    enum Stage: Sendable, Equatable {
        /// A backup cycle's first step: nothing is written or stopped while the agent prepares.
        case preparing
        case listingStacks
        case writingMarker
        case stopping
        /// Writing `rollback_requested` to the marker; `POST /rollback` only once it is on disk.
        case requestingRollback
        case startingOp
        /// Waiting for the agent: a backup to release the guest, or a rollback op to be final.
        case waitingForAgent
        case reportingResume
        case restarting
        case finished
    }

    /// The durable state: what the marker on disk says.
    public private(set) var marker: QuiesceMarker
    public let isRecovery: Bool
    /// Recovery only: restart without waiting for the agent's rollback op (`recover --force`).
    public let force: Bool
    private(set) var stage: Stage
    public private(set) var phaseReached: BackupPhase?
    public private(set) var consistency: BackupConsistency?
    public private(set) var failure: String?
    public private(set) var shuttingDown = false
    public private(set) var boundReached = false
    /// Another process took the cycle over; this run neither restarts nor records.
    public private(set) var abandoned = false
    private var cancelRequested = false
    /// A `POST /rollback` has been sent, so an op may exist even without an answer.
    private var rollbackPosted = false
    /// A retry under the cycle's key was refused outright: any op found since is not known to be ours.
    private var retryRefused = false
    /// The backup `POST /backup/prepare` made; `POST /backup` names it.
    public private(set) var prepareID: String?
    /// `POST /backup` has been sent, so the agent may have begun the window even without an answer.
    private var backupPosted = false
    /// Why the window has no capture made ahead, as the controller saw it; `nil` while it has one.
    public private(set) var prepareProblem: String?

    /// A live cycle whose marker names `marker.stacks`; nothing has been written or stopped yet.
    public static func live(_ marker: QuiesceMarker) -> CycleMachine {
        var marker = marker
        // Said outright, so recovery can tell "never requested" from a marker of an older release.
        if marker.kind == .rollback, marker.rollbackRequested == nil { marker.rollbackRequested = false }
        return CycleMachine(marker: marker, isRecovery: false, force: false, stage: marker.kind == .rollback ? .writingMarker : .preparing)
    }

    /// The recovery of a cycle whose marker survived its controller.
    public static func recovering(_ marker: QuiesceMarker, force: Bool = false) -> CycleMachine {
        var machine = CycleMachine(marker: marker, isRecovery: true, force: force, stage: .waitingForAgent)
        machine.failure = "the controller stopped during this cycle; the next start finished it"
        return machine
    }

    private init(marker: QuiesceMarker, isRecovery: Bool, force: Bool, stage: Stage) {
        self.marker = marker
        self.isRecovery = isRecovery
        self.force = force
        self.stage = stage
    }

    var isRollback: Bool { marker.kind == .rollback }
    public var isFinished: Bool { stage == .finished }
    /// Whether the machine waits for the agent's prepare; nothing is stopped yet.
    public var isPreparing: Bool { stage == .preparing }
    /// The idempotency key of the cycle's prepare: its own, as a prepare and a backup are two requests.
    var prepareKey: String { "prepare-" + marker.cycleID }
    /// Whether the machine waits for the agent's rollback op; the bound and shutdown then cancel it rather than restart.
    public var isWaitingForRollbackOp: Bool { stage == .waitingForAgent && isRollback && !force }

    /// The first actions.
    public mutating func start() -> [Action] {
        guard isRecovery else {
            return stage == .preparing ? [.prepareBackup(idempotencyKey: prepareKey)] : [.writeMarker(marker)]
        }
        var actions: [Action] = [.waitForOrphanedOperations(marker.stacks)]
        if isRollback, !force {
            if let opID = marker.rollbackOpID {
                actions.append(.pollRollback(opID: opID, afterInterval: false))
            } else if marker.rollbackRequested != false {
                // Requested, or a marker from a release that did not say: an op may exist.
                actions.append(.findRollbackOp(afterInterval: false))
            } else {
                return actions + finish()
            }
            return actions
        }
        if !isRollback, let backupID = marker.backupID {
            return actions + [.pollBackup(backupID: backupID, afterInterval: false)]
        }
        return actions + finish()
    }

    public mutating func handle(_ event: Event) -> [Action] {
        switch (stage, event) {
        case (.preparing, .prepareStarted(let backupID)):
            prepareID = backupID
            return [.pollPrepare(backupID: backupID, afterInterval: false)]
        case (.preparing, .prepareFailed(let error)):
            return withoutCapture("POST /backup/prepare failed: \(error)")
        case (.preparing, .prepareRefused(let error)):
            failure = "the agent refused the prepare: \(error); nothing was stopped"
            stage = .finished
            return [.record(.failed)]
        case (.preparing, .preparePolled(let phase, let error)):
            switch phase {
            case .ready:
                // Known before the POST: a crash after it, whose answer never came, still reports the resume.
                marker.backupID = prepareID
                return listStacks()
            case .preparing, .queued:
                return [.pollPrepare(backupID: prepareID ?? "", afterInterval: true)]
            case .failed:
                return withoutCapture("prepare failed: \(error ?? "no reason given")")
            case .running, .snapshotted, .done, .pruned:
                return withoutCapture("the prepare is already \(phase.rawValue), so not ours to use")
            }
        case (.preparing, .pollFailed(let error)):
            // Nothing is stopped yet: keep asking until the prepare bound.
            _ = error
            return [.pollPrepare(backupID: prepareID ?? "", afterInterval: true)]
        case (.preparing, .prepareBoundReached):
            return withoutCapture("the prepare did not become ready within max_prepare_seconds")

        case (.listingStacks, .stacksListed(let stacks, let partialBefore)):
            marker.stacks = stacks
            marker.partialBefore = partialBefore
            stage = .writingMarker
            return [.writeMarker(marker)]
        case (.listingStacks, .stackListFailed(let error)):
            failure = "listing the running app stacks: \(error); nothing was stopped"
            stage = .finished
            return [.record(.failed)]

        case (.writingMarker, .markerWritten):
            stage = .stopping
            return marker.stacks.isEmpty ? afterStops() : [.stopAll(marker.stacks)]
        case (.writingMarker, .markerWriteFailed(let error)):
            failure = "\(error); nothing was stopped"
            stage = .finished
            return [.record(.failed)]
        case (.requestingRollback, .markerWritten):
            stage = .startingOp
            return [.startRollback(backupID: marker.backupID ?? "", idempotencyKey: marker.cycleID, afterInterval: false)]
        case (.requestingRollback, .markerWriteFailed(let error)):
            // Without it on disk a crash after the POST would look like no rollback at all.
            failure = "writing the marker before POST /rollback: \(error); no rollback was started"
            return finish()
        case (_, .markerWritten), (_, .markerWriteFailed):
            // A later rewrite (the backup id, the op id): the marker from before still names every stack.
            return []

        case (.stopping, .allStopped):
            return afterStops()
        case (.stopping, .stopFailed(let stack, let error)):
            failure = "stopping \(stack): \(error)"
            return finish()
        case (.stopping, .boundReached):
            boundReached = true
            failure = "max_quiesce_seconds reached while the stacks were stopping; nothing was started on the agent"
            return finish()

        case (.startingOp, .backupStarted(let backupID, let phase)):
            marker.backupID = backupID
            phaseReached = phase
            stage = .waitingForAgent
            return [.writeMarker(marker), .pollBackup(backupID: backupID, afterInterval: false)]
        case (.startingOp, .rollbackStarted(let opID)):
            marker.rollbackOpID = opID
            phaseReached = .queued
            stage = .waitingForAgent
            return [.writeMarker(marker)] + (shuttingDown || boundReached ? cancel(opID) : [.pollRollback(opID: opID, afterInterval: false)])
        case (.startingOp, .startFailed(let error, let definite)):
            guard isRollback else {
                failure = "starting the backup: \(error)"
                return finish()
            }
            if definite, !rollbackPosted {
                failure = "the agent refused the rollback: \(error)"
                return finish()
            }
            if definite {
                // A retry under our key was refused, so the key names no op; the newest op of the
                // guest says whether an earlier POST is still being taken in. The stacks wait for it,
                // but the cycle stays failed: that op may not be the rollback this cycle asked for.
                failure = "the agent refused the rollback: \(error)"
                retryRefused = true
                stage = .waitingForAgent
                return [.findRollbackOp(afterInterval: false)]
            }
            rollbackPosted = true
            // The request may have reached the agent: ask again under the same key until the answer is
            // definite. The same key never starts a second op, and without an answer nothing restarts.
            return [.startRollback(backupID: marker.backupID ?? "", idempotencyKey: marker.cycleID, afterInterval: true)]
        case (.startingOp, .boundReached) where !(isRollback && rollbackPosted):
            boundReached = true
            failure = "max_quiesce_seconds reached before anything was started on the agent"
            return finish()
        case (.startingOp, .boundReached):
            // No more POSTs, which could start an op only to cancel it: find the one that may exist, and cancel it.
            boundReached = true
            failure = "max_quiesce_seconds reached during the rollback; it was cancelled on the agent, and the stacks restart on the data it leaves"
            stage = .waitingForAgent
            return cancel(nil)

        case (.waitingForAgent, .backupPolled(let phase, let error)):
            phaseReached = phase
            if isRecovery { return finish() }
            if phase == .failed {
                failure = "the agent reports the backup failed: \(error ?? "no reason given")"
                return finish()
            }
            return phase.releasesGuest ? finish() : [.pollBackup(backupID: marker.backupID ?? "", afterInterval: true)]
        case (.waitingForAgent, .rollbackPolled(let phase, let error)):
            phaseReached = Self.backupPhase(phase)
            switch phase {
            case .queued, .running:
                return [.pollRollback(opID: marker.rollbackOpID ?? "", afterInterval: true)]
            case .done:
                // A cancel that came too late: the swap finished, and the cycle did what it was asked.
                if cancelRequested, !isRecovery { failure = nil }
                return finish()
            case .failed:
                if failure == nil { failure = "the agent reports the rollback failed: \(error ?? "no reason given")" }
                return finish()
            }
        case (.waitingForAgent, .rollbackOpFound(let opID, let phase)):
            guard let opID, let phase, !phase.isFinal else { return finish() }
            // The POST whose answer was lost did start the op; how it ends decides the outcome.
            if !shuttingDown, !boundReached, !isRecovery, !retryRefused { failure = nil }
            marker.rollbackOpID = opID
            return [.writeMarker(marker)] + (shuttingDown || boundReached ? cancel(opID) : [.pollRollback(opID: opID, afterInterval: true)])
        case (.waitingForAgent, .pollFailed):
            if !isRollback {
                // Recovery asks once; a live cycle keeps asking until the bound.
                return isRecovery ? finish() : [.pollBackup(backupID: marker.backupID ?? "", afterInterval: true)]
            }
            // The op may still be running: the stacks stay down until the agent says it is final.
            if let opID = marker.rollbackOpID { return [.pollRollback(opID: opID, afterInterval: true)] }
            return [.findRollbackOp(afterInterval: true)]

        case (.waitingForAgent, .boundReached):
            guard !boundReached else { return [] }
            boundReached = true
            if !isRollback {
                failure = "max_quiesce_seconds reached before the backup released the guest; the agent finishes it without us"
                return finish()
            }
            failure = "max_quiesce_seconds reached during the rollback; it was cancelled on the agent, and the stacks restart on the data it leaves"
            return cancelRequested ? [] : cancel(marker.rollbackOpID)

        case (_, .shutdownRequested):
            guard !shuttingDown else { return [] }
            shuttingDown = true
            switch stage {
            case .preparing, .listingStacks:
                // Nothing is stopped: nothing to restart, no marker to clear.
                failure = "the controller is shutting down; nothing was stopped"
                stage = .finished
                return [.record(.failed)]
            case .stopping:
                failure = failure ?? "the controller is shutting down"
                return finish()
            case .startingOp where isRollback && rollbackPosted:
                // A POST may have started an op: find it and cancel it, rather than post again.
                failure = failure ?? "the controller is shutting down; the rollback was cancelled on the agent"
                stage = .waitingForAgent
                return cancel(nil)
            case .startingOp:
                failure = failure ?? "the controller is shutting down"
                return finish()
            case .waitingForAgent where isRollback && !force:
                failure = failure ?? "the controller is shutting down; the rollback was cancelled on the agent"
                return cancelRequested ? [] : cancel(marker.rollbackOpID)
            case .waitingForAgent:
                failure = failure ?? "the controller is shutting down"
                return finish()
            case .requestingRollback:
                failure = failure ?? "the controller is shutting down"
                return finish()
            case .writingMarker, .reportingResume, .restarting, .finished:
                return []
            }
        case (.waitingForAgent, .rollbackOpUnknown):
            failure = failure ?? "the agent does not know rollback op \(marker.rollbackOpID ?? "?"); nothing to wait for"
            return finish()
        case (_, .markerTakenOver):
            guard stage != .finished else { return [] }
            stage = .finished
            abandoned = true
            return []
        case (.waitingForAgent, .shutdownBudgetSpent):
            // The op may still swap the data dir: leave the stacks down and the marker for the next start.
            failure = (failure.map { $0 + "; " } ?? "") + "the agent's rollback op was not final at shutdown; the stacks stay down and the next start finishes the cycle"
            stage = .finished
            return [.record(.failed)]

        case (.reportingResume, .resumeReported(let consistency)):
            self.consistency = consistency
            return restart()

        case (.restarting, .restartFinished(let stillDown)):
            stage = .finished
            if !stillDown.isEmpty {
                failure = (failure.map { $0 + "; " } ?? "") + "still down at shutdown: \(stillDown.joined(separator: ", ")); the marker stays for the next start"
                return [.record(.failed)]
            }
            return [.clearMarker, .record(outcome)]

        default:
            return []
        }
    }

    /// How the cycle ended, once the stacks are back.
    var outcome: CycleOutcome {
        if isRecovery { return .recovered }
        return failure == nil && (phaseReached == .snapshotted || phaseReached == .done) ? .succeeded : .failed
    }

    private mutating func afterStops() -> [Action] {
        if isRollback {
            marker.rollbackRequested = true
            stage = .requestingRollback
            return [.writeMarker(marker)]
        }
        stage = .startingOp
        backupPosted = true
        return [.startBackup(idempotencyKey: marker.cycleID, stacks: marker.stacks, prepareID: prepareID)]
    }

    /// The backup goes on as before captures existed: the apps stay down for the whole archive.
    /// The agent records why; a prepare that is not ready is superseded by the `POST /backup`.
    private mutating func withoutCapture(_ problem: String) -> [Action] {
        prepareProblem = problem
        return listStacks()
    }

    private mutating func listStacks() -> [Action] {
        stage = .listingStacks
        return [.listStacks]
    }

    private mutating func cancel(_ opID: String?) -> [Action] {
        cancelRequested = true
        guard let opID else { return [.findRollbackOp(afterInterval: false)] }
        return [.cancelRollback(opID: opID), .pollRollback(opID: opID, afterInterval: false)]
    }

    /// The one finish path: tell the agent if a backup did not capture the stopped apps, then restart.
    private mutating func finish() -> [Action] {
        // A prepared backup whose POST was never sent has no window to report on; after a crash nobody knows.
        if !isRollback, let backupID = marker.backupID, backupPosted || isRecovery, phaseReached != .snapshotted, phaseReached != .done {
            stage = .reportingResume
            return [.reportResumed(backupID: backupID)]
        }
        if !isRollback, marker.backupID != nil { consistency = .app }
        return restart()
    }

    private mutating func restart() -> [Action] {
        stage = .restarting
        // A marker from before `partial_before` existed: accept partial, as that version did.
        let partial = Set(marker.partialBefore ?? (isRecovery ? marker.stacks : []))
        return [.restart(stacks: marker.stacks, partialBefore: partial, shuttingDown: shuttingDown)]
    }

    static func backupPhase(_ phase: RollbackPhase) -> BackupPhase {
        switch phase {
        case .queued: .queued
        case .running: .running
        case .done: .done
        case .failed: .failed
        }
    }
}
