import AgentAPI
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
    private let jobs: AsyncStream<BackupJob>
    private let queue: AsyncStream<BackupJob>.Continuation

    public init(
        store: AgentStore, backend: any BackupBackend, retention: Retention, dailyLimit: Int? = nil, logger: Logger,
        now: @escaping @Sendable () -> Date = Date.init
    ) {
        self.store = store
        self.backend = backend
        self.retention = retention
        self.dailyLimit = dailyLimit
        self.logger = logger
        self.now = now
        (jobs, queue) = AsyncStream.makeStream(of: BackupJob.self)
    }

    /// Records a backup for `guest` and queues it, unless the key is known or one is in flight.
    public func start(guest: GuestRecord, idempotencyKey: String, request: StartBackupRequest) throws -> BeginBackupOutcome {
        let startedAt = now()
        let outcome = try store.beginBackup(
            guest: guest.name, idempotencyKey: idempotencyKey, request: request,
            backupID: OpID.make(prefix: "b", at: startedAt), now: startedAt, dailyLimit: dailyLimit)
        if case .created(let entry) = outcome {
            logger.info("backup started", metadata: [
                "guest": "\(guest.name)", "backup_id": "\(entry.backupID)", "quiesced": "\(request.quiesced)",
                "stacks": "\(request.stacks.joined(separator: ","))",
            ])
            queue.yield(BackupJob(backupID: entry.backupID, guest: guest.name, dataDirectory: guest.dataDirectory, startedAt: startedAt))
        }
        return outcome
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                for await job in self.jobs {
                    group.addTask { await self.execute(job) }
                }
            }
        }
    }

    func execute(_ job: BackupJob) async {
        let metadata: Logger.Metadata = ["guest": "\(job.guest)", "backup_id": "\(job.backupID)"]
        do {
            try store.markRunning(job.backupID, now: now())
            logger.info("backup running", metadata: metadata)
            await Failpoint.reach("backup.running", logger: logger)
            let throttle = ProgressThrottle()
            let artifact = try await backend.createBackup(job) { [store, logger] progress in
                guard throttle.shouldRecord(progress) else { return }
                do {
                    try store.recordProgress(job.backupID, progress)
                } catch {
                    logger.warning("recording progress failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                }
            }
            try store.completeBackup(job.backupID, artifact: artifact, now: now())
            logger.info("backup done", metadata: metadata.merging([
                "size_bytes": "\(artifact.sizeBytes)", "data_bytes": "\(artifact.dataBytes)",
            ]) { $1 })
            prune(guest: job.guest)
        } catch let failure as BackupFailure {
            let reason = failure.code == .cancelled ? "agent stopped during backup" : failure.message
            recordFailure(job, reason: reason, metadata: metadata)
        } catch {
            // The journal could not record the finished backup, so nothing will ever reference its files.
            do {
                try backend.discardBackup(guest: job.guest, backupID: job.backupID)
            } catch {
                logger.error("removing the files of a backup the journal could not record failed; the next startup sweep removes them",
                             metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            recordFailure(job, reason: "\(error)", metadata: metadata)
        }
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
    private func prune(guest: String) {
        do {
            for entry in try store.pruneBackups(guest: guest, retention: retention, now: now()) {
                try backend.discardBackup(guest: guest, backupID: entry.backupID)
                logger.info("backup pruned", metadata: ["guest": "\(guest)", "backup_id": "\(entry.backupID)"])
            }
        } catch {
            logger.error("pruning old backups failed", metadata: ["guest": "\(guest)", "error": "\(error)"])
        }
    }
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
