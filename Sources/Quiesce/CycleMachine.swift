import AgentAPI

/// Every decision of a quiesce cycle, and of the recovery of a crashed one, with no I/O.
///
/// Events go in (a stack stopped, the agent answered, the bound passed, a shutdown began);
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
        case markerWritten
        case markerWriteFailed(String)
        case stopped(String)
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
        case writeMarker(QuiesceMarker)
        /// Recovery: let a compose process the dead controller left finish first.
        case waitForOrphanedOperations([String])
        case stop(String)
        case startBackup(idempotencyKey: String, stacks: [String])
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
        case writingMarker
        case stopping(next: Int)
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

    /// A live cycle whose marker names `marker.stacks`; nothing has been written or stopped yet.
    public static func live(_ marker: QuiesceMarker) -> CycleMachine {
        var marker = marker
        // Said outright, so recovery can tell "never requested" from a marker of an older release.
        if marker.kind == .rollback, marker.rollbackRequested == nil { marker.rollbackRequested = false }
        return CycleMachine(marker: marker, isRecovery: false, force: false, stage: .writingMarker)
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
    /// Whether the machine waits for the agent's rollback op; the bound and shutdown then cancel it rather than restart.
    public var isWaitingForRollbackOp: Bool { stage == .waitingForAgent && isRollback && !force }

    /// The first actions.
    public mutating func start() -> [Action] {
        guard isRecovery else { return [.writeMarker(marker)] }
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
        case (.writingMarker, .markerWritten):
            stage = .stopping(next: 0)
            return nextStop()
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

        case (.stopping(let next), .stopped):
            stage = .stopping(next: next + 1)
            return nextStop()
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

    private mutating func nextStop() -> [Action] {
        guard case .stopping(let next) = stage else { return [] }
        if next < marker.stacks.count { return [.stop(marker.stacks[next])] }
        if isRollback {
            marker.rollbackRequested = true
            stage = .requestingRollback
            return [.writeMarker(marker)]
        }
        stage = .startingOp
        return [.startBackup(idempotencyKey: marker.cycleID, stacks: marker.stacks)]
    }

    private mutating func cancel(_ opID: String?) -> [Action] {
        cancelRequested = true
        guard let opID else { return [.findRollbackOp(afterInterval: false)] }
        return [.cancelRollback(opID: opID), .pollRollback(opID: opID, afterInterval: false)]
    }

    /// The one finish path: tell the agent if a backup did not capture the stopped apps, then restart.
    private mutating func finish() -> [Action] {
        if !isRollback, let backupID = marker.backupID, phaseReached != .snapshotted, phaseReached != .done {
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
