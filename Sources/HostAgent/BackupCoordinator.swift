import AgentAPI
import Capture
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Starts backups, runs them one task each, and records every state change in the journal.
///
/// A `Service`: on graceful shutdown the running backups are cancelled, their
/// partial archives removed and their ops recorded as failed.
public final class BackupCoordinator: Service, Sendable {
    let store: AgentStore
    let backend: any BackupBackend
    let retention: Retention
    /// Backups a guest may start in 24 hours; a guest calling in a loop cannot fill the repository.
    let dailyLimit: Int?
    let logger: Logger
    let now: @Sendable () -> Date
    private let jobs: AsyncStream<Work>
    private let queue: AsyncStream<Work>.Continuation

    /// How long a `ready` capture waits for its `POST /backup` before it is dropped.
    let readyTimeout: Duration
    /// Prepares that are no longer wanted: superseded, or the agent is stopping.
    private let unwanted = Mutex<Set<String>>([])
    /// What running backups wait for, by backup id; it lasts only as long as the wait, so it is not journaled.
    private let waits = Mutex<[String: String]>([:])

    /// What the running backup `backupID` waits for, if anything.
    public func waitingFor(_ backupID: String) -> String? {
        waits.withLock { $0[backupID] }
    }

    public init(
        store: AgentStore, backend: any BackupBackend, retention: Retention, dailyLimit: Int? = nil, logger: Logger,
        readyTimeout: Duration = .seconds(900), now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.backend = backend
        self.retention = retention
        self.dailyLimit = dailyLimit
        self.logger = logger
        self.readyTimeout = readyTimeout
        self.now = now
        (jobs, queue) = AsyncStream.makeStream(of: Work.self)
    }

    /// `POST /backup`: records a backup for `guest` and queues it, unless the key is known or one is in flight.
    /// With a `ready` prepare named, its waiting task runs the window instead.
    public func start(guest: GuestRecord, idempotencyKey: String, request: StartBackupRequest) throws -> BeginBackupOutcome {
        let startedAt = now()
        let outcome = try store.beginBackup(
            guest: guest.name, idempotencyKey: idempotencyKey, request: request,
            backupID: OpID.make(prefix: "b", at: startedAt), now: startedAt, dailyLimit: dailyLimit)
        if case .created(let entry) = outcome {
            logger.info("backup started", metadata: [
                "guest": "\(guest.name)", "backup_id": "\(entry.backupID)", "quiesced": "\(request.quiesced)",
                "stacks": "\(request.stacks.joined(separator: ","))", "capture": "\(entry.status.captureMethod?.rawValue ?? "")",
            ])
            if entry.backupID != request.prepareID {
                if let prepareID = request.prepareID { unwanted.withLock { _ = $0.insert(prepareID) } }
                queue.yield(.live(job(entry.backupID, guest: guest, startedAt: startedAt)))
            }
        }
        return outcome
    }

    /// `POST /backup/prepare`: records a backup that makes its capture now, while the apps run.
    public func prepare(guest: GuestRecord, idempotencyKey: String) throws -> BeginBackupOutcome {
        let startedAt = now()
        let outcome = try store.beginPrepare(
            guest: guest.name, idempotencyKey: idempotencyKey, backupID: OpID.make(prefix: "b", at: startedAt),
            now: startedAt, dailyLimit: dailyLimit)
        if case .created(let entry) = outcome {
            logger.info("backup prepare started", metadata: [
                "guest": "\(guest.name)", "backup_id": "\(entry.backupID)", "capture": "\(guest.capture.rawValue)",
            ])
            queue.yield(.prepared(job(entry.backupID, guest: guest, startedAt: startedAt)))
        }
        return outcome
    }

    private func job(_ id: String, guest: GuestRecord, startedAt: Date) -> BackupJob {
        BackupJob(backupID: id, guest: guest, startedAt: startedAt)
    }

    enum Work: Sendable {
        /// Archive the live data dir: no prepare came first.
        case live(BackupJob)
        /// Prepare a capture, wait for `POST /backup`, then run the window and archive from the capture.
        case prepared(BackupJob)
        /// Follow a backup a restart interrupted whose work still runs outside the agent.
        case resumed(OpRecord)
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await work in self.jobs {
                    switch work {
                    case .live(let job): group.addTask { await self.execute(job, capture: nil) }
                    case .prepared(let job): group.addTask { await self.prepareAndExecute(job) }
                    case .resumed(let op): group.addTask { await self.resumeBackup(op) }
                    }
                }
            }
        }
    }

    func prepareAndExecute(_ job: BackupJob) async {
        let metadata: Logger.Metadata = ["guest": "\(job.guest)", "backup_id": "\(job.backupID)"]
        let checks = Atomic<Int>(0)
        let isUnwanted: @Sendable () -> Bool = {
            let count = checks.add(1, ordering: .relaxed).newValue
            // Called before each entry the copy makes: the crash test's point in the middle of a copy.
            if count == 100 { Failpoint.reachBlocking("prepare.copying") }
            if self.unwanted.withLock({ $0.contains(job.backupID) }) { return true }
            // A newer prepare or backup of the guest fails this one in the journal; looked up now and then.
            guard count % 256 == 0 else { return false }
            return (try? self.store.preparedState(job.backupID))?.state.isFinal == true
        }
        do {
            let stale = try await sweepOtherCaptures(of: job)
            if !stale.isEmpty {
                logger.info("leftover captures removed", metadata: metadata.merging(["paths": "\(stale.joined(separator: ","))"]) { $1 })
            }
        } catch {
            logger.warning("sweeping old captures failed; the startup sweep tries again", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        let capture: (any PreparedCapture)?
        do {
            capture = try await withTaskCancellationHandler {
                try await backend.prepareCapture(job, isCancelled: isUnwanted)
            } onCancel: {
                self.unwanted.withLock { _ = $0.insert(job.backupID) }
            }
        } catch let failure as BackupFailure {
            let reason = failure.code != .cancelled ? failure.message
                : Task.isCancelled ? "the agent stopped while preparing; nothing had been stopped"
                : "superseded by a newer prepare or backup of this guest before its window"
            return recordFailure(job, reason: reason, metadata: metadata)
        } catch {
            return recordFailure(job, reason: "\(error)", metadata: metadata)
        }
        await runPrepared(job, capture: capture, metadata: metadata)
        // A task of its own: the capture goes even when the agent is stopping and this one is cancelled.
        await Task { await discard(capture, metadata: metadata) }.value
    }

    /// Marks the prepare ready, waits for `POST /backup`, and runs the backup from the capture.
    private func runPrepared(_ job: BackupJob, capture: (any PreparedCapture)?, metadata: Logger.Metadata) async {
        do {
            try store.markReady(job.backupID, method: capture?.method ?? .none, reason: capture == nil ? "capture is off for guest \(job.guest)" : capture?.note, now: now())
        } catch {
            return recordFailure(job, reason: "recording the prepared capture: \(error)", metadata: metadata)
        }
        logger.info("backup ready", metadata: metadata.merging(["capture": "\(capture?.method.rawValue ?? "none")"]) { $1 })
        switch await waitForStart(job) {
        case .started(let startedAt):
            await execute(job, capture: capture, windowStartedAt: startedAt)
        case .superseded:
            logger.info("prepared backup superseded; its capture is removed", metadata: metadata)
        case .timedOut:
            do {
                let reason = "no POST /backup came within \(readyTimeout) of the prepare; its capture was removed"
                if try store.failIfStillReady(job.backupID, reason: reason, now: now()) {
                    logger.info("backup failed", metadata: metadata.merging(["error": "\(reason)"]) { $1 })
                } else {
                    // The POST came in the last moment: its apps are stopped, so the window runs.
                    await execute(job, capture: capture)
                }
            } catch {
                logger.error("recording an expired prepare failed; startup recovery resolves it", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
        case .cancelled:
            recordFailure(job, reason: "the agent stopped before the backup started; its capture was removed", metadata: metadata)
        }
    }

    private enum StartWait {
        case started(ContinuousClock.Instant)
        case superseded, timedOut, cancelled
    }

    /// The journal is the signal: `POST /backup` moves the op to its window in the same transaction
    /// that checks it, so no in-memory handoff can disagree with what a crash leaves on disk.
    private func waitForStart(_ job: BackupJob) async -> StartWait {
        let deadline = ContinuousClock.now + readyTimeout
        while ContinuousClock.now < deadline {
            guard let current = try? store.preparedState(job.backupID) else {
                if Task.isCancelled { return .cancelled }
                try? await Task.sleep(for: .milliseconds(20))
                continue
            }
            if current.state.isFinal { return .superseded }
            if current.stage != .ready { return .started(.now) }
            do {
                try await Task.sleep(for: .milliseconds(20))
            } catch {
                return .cancelled
            }
        }
        return .timedOut
    }

    private func sweepOtherCaptures(of job: BackupJob) async throws(BackupFailure) -> [String] {
        let inFlight: Set<String>
        do {
            inFlight = Set(try store.inFlightOps().filter { $0.guest == job.guest }.map(\.id))
        } catch {
            throw BackupFailure(.storage, "reading the journal: \(error)")
        }
        let sweep = await backend.sweepCaptures(guests: [job.guest: job.dataDirectory], keeping: inFlight.union([job.backupID]))
        if let failure = sweep.failures.first { throw BackupFailure(.storage, failure) }
        return sweep.removed
    }

    private func discard(_ capture: (any PreparedCapture)?, metadata: Logger.Metadata) async {
        do {
            try await capture?.discard()
        } catch {
            logger.error("removing a capture failed; the next prepare or startup removes it", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    func execute(_ job: BackupJob, capture: (any PreparedCapture)?, windowStartedAt: ContinuousClock.Instant = .now) async {
        let metadata: Logger.Metadata = ["guest": "\(job.guest)", "backup_id": "\(job.backupID)"]
        do {
            try store.markRunning(job.backupID, now: now())
            logger.info("backup running", metadata: metadata)
            await Failpoint.reach("backup.running", logger: logger)
            let snapshotAt = SnapshotInstant()
            let artifact = try await backend.createBackup(
                job, capture: capture,
                events: recorder(backupID: job.backupID, metadata: metadata, windowStartedAt: windowStartedAt, snapshotAt: snapshotAt))
            let finished = ContinuousClock.now
            let archiveStart = snapshotAt.value.withLock { $0 } ?? windowStartedAt
            try store.recordTimes(
                job.backupID, archiveMs: Self.milliseconds(archiveStart.duration(to: finished)),
                windowMs: capture == nil ? Self.milliseconds(windowStartedAt.duration(to: finished)) : nil)
            try store.completeBackup(job.backupID, artifact: artifact, now: now())
            logger.info("backup done", metadata: metadata.merging([
                "size_bytes": "\(artifact.sizeBytes)", "data_bytes": "\(artifact.dataBytes)",
            ]) { $1 })
            await prune(guest: job.guest)
        } catch let failure as BackupFailure where failure.code == .detached {
            logger.info("backup left running outside the agent", metadata: metadata.merging(["why": "\(failure.message)"]) { $1 })
        } catch let failure as BackupFailure {
            let reason = failure.code == .cancelled ? "agent stopped during backup" : failure.message
            recordFailure(job, reason: reason, metadata: metadata)
        } catch {
            // The journal could not record the finished backup, so nothing will ever reference its files.
            do {
                try await backend.discardBackup(guest: job.guest, backupID: job.backupID)
            } catch {
                logger.error("removing the files of a backup the journal could not record failed; the next startup sweep removes them",
                             metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            recordFailure(job, reason: "\(error)", metadata: metadata)
        }
    }

    /// Records a running backup's events in the journal: progress now and then, and `snapshotted`
    /// at once, with its instant in `snapshotAt`.
    private func recorder(
        backupID: String, metadata: Logger.Metadata, windowStartedAt: ContinuousClock.Instant,
        snapshotAt: SnapshotInstant
    ) -> @Sendable (BackupEvent) -> Void {
        let throttle = ProgressThrottle()
        return { [store, logger, self] event in
            switch event {
            case .waiting(let what):
                self.waits.withLock { $0[backupID] = what }
                if let what { logger.info("backup waiting", metadata: metadata.merging(["waiting_for": "\(what)"]) { $1 }) }
            case .progress(let progress):
                guard throttle.shouldRecord(progress) else { return }
                do {
                    try store.recordProgress(backupID, progress)
                } catch {
                    logger.warning("recording progress failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                }
            case .snapshotted:
                self.waits.withLock { $0[backupID] = nil }
                let at = ContinuousClock.now
                snapshotAt.value.withLock { $0 = at }
                let windowMs = Self.milliseconds(windowStartedAt.duration(to: at))
                do {
                    try store.markSnapshotted(backupID, windowMs: windowMs)
                    logger.info("backup snapshotted; the guest may resume", metadata: metadata.merging(["capture_window_ms": "\(windowMs)"]) { $1 })
                } catch {
                    // The guest then waits for `done`: slower, never wrong.
                    logger.error("recording snapshotted failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                }
            }
        }
    }

    /// After a restart: follows backups whose work still ran outside the agent (a Proxmox task)
    /// to their end, and records them.
    public func resume(_ ops: [OpRecord]) {
        for op in ops { queue.yield(.resumed(op)) }
    }

    private func resumeBackup(_ op: OpRecord) async {
        let metadata: Logger.Metadata = ["guest": "\(op.guest)", "backup_id": "\(op.id)"]
        do {
            let artifact = try await backend.resumeBackup(
                op, events: recorder(backupID: op.id, metadata: metadata, windowStartedAt: ContinuousClock.now, snapshotAt: SnapshotInstant()))
            try store.completeBackup(op.id, artifact: artifact, now: now())
            logger.info("backup done", metadata: metadata.merging(["size_bytes": "\(artifact.sizeBytes)", "resumed": "true"]) { $1 })
            await prune(guest: op.guest)
        } catch let failure as BackupFailure where failure.code == .detached {
            logger.info("backup left running outside the agent", metadata: metadata.merging(["why": "\(failure.message)"]) { $1 })
        } catch {
            let reason = (error as? BackupFailure).map { $0.code == .cancelled ? "agent stopped during backup" : $0.message } ?? "\(error)"
            do {
                try store.failOp(op.id, reason: reason, now: now())
                logger.info("backup failed", metadata: metadata.merging(["error": "\(reason)"]) { $1 })
            } catch {
                logger.error("recording a failed backup failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
        }
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    private func recordFailure(_ job: BackupJob, reason: String, metadata: Logger.Metadata) {
        do {
            try store.failOp(job.backupID, reason: reason, now: now())
            logger.info("backup failed", metadata: metadata.merging(["error": "\(reason)"]) { $1 })
        } catch {
            // Startup recovery resolves the op if this write never lands.
            logger.error("recording a failed backup failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }

    /// Retention runs only after a success; the store decides what may go (see ``AgentStore/pruneBackups(guest:retention:now:)``).
    private func prune(guest: String) async {
        do {
            for entry in try store.pruneBackups(guest: guest, retention: retention, now: now()) {
                try await backend.discardBackup(guest: guest, backupID: entry.backupID)
                logger.info("backup pruned", metadata: ["guest": "\(guest)", "backup_id": "\(entry.backupID)"])
            }
        } catch {
            logger.error("pruning old backups failed", metadata: ["guest": "\(guest)", "error": "\(error)"])
        }
    }
}

/// When a running backup reported `snapshotted`, once it has.
private final class SnapshotInstant: Sendable {
    let value = Mutex<ContinuousClock.Instant?>(nil)
}

/// Progress is written to SQLite at most every quarter second, and always at the start.
private final class ProgressThrottle: Sendable {
    private let last = Mutex<ContinuousClock.Instant?>(nil)

    func shouldRecord(_ progress: BackupProgress) -> Bool {
        let now = ContinuousClock.now
        return last.withLock { last in
            if let previous = last, previous.duration(to: now) < .milliseconds(250), progress.bytesDone > 0 {
                return false
            }
            last = now
            return true
        }
    }
}
