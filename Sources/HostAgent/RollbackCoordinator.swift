import AgentAPI
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Starts rollbacks and runs them, one task each, journaled like backups.
public final class RollbackCoordinator: Service, Sendable {
    let store: AgentStore
    let backend: any BackupBackend
    let logger: Logger
    let now: @Sendable () -> Date
    private let jobs: AsyncStream<Job>
    private let queue: AsyncStream<Job>.Continuation
    /// The task of each running rollback, so `cancel` can reach it, and the ops asked to stop.
    private let running = Mutex<Running>(Running())

    private struct Running {
        var tasks: [String: Task<Void, any Error>] = [:]
        var cancelled: Set<String> = []
    }

    struct Job: Sendable {
        var opID: String
        var guest: GuestRecord
        var backupID: String
    }

    /// Why `start` refused; nothing was touched.
    public enum Refusal: Error, Sendable {
        case notFound(String)
        case conflict(String)
        case preflight(String)
    }

    public init(store: AgentStore, backend: any BackupBackend, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.backend = backend
        self.logger = logger
        self.now = now
        (jobs, queue) = AsyncStream.makeStream(of: Job.self)
    }

    /// Whether a rollback of `guest` to `backupID` would start now: the backup is the guest's,
    /// finished and not pruned, and the backend's own pre-flight passes. Touches nothing.
    public func preflight(guest: GuestRecord, backupID: String) async throws -> RollbackPreflight {
        guard let entry = try store.backup(backupID, guest: guest.name), entry.op.state == .succeeded, entry.backup.prunedAt == nil else {
            throw Refusal.notFound("no finished backup \(backupID) for guest \(guest.name)")
        }
        // beginRollback checks this again in its transaction; here it spares the controller a stop for nothing.
        if let running = try store.inFlightOps().first(where: { $0.guest == guest.name && $0.kind != .restoreTest }) {
            throw Refusal.conflict("op \(running.id) of guest \(guest.name) is still in flight; wait for it to finish")
        }
        do {
            return try await backend.rollbackPreflight(guest: guest, backupID: backupID)
        } catch {
            throw Refusal.preflight("\(error)")
        }
    }

    /// Checks the backup belongs to the guest and passes pre-flight, then records and queues the rollback.
    /// - Parameter idempotencyKey: the same key from the same guest always names the same op, so a
    ///   caller that lost the answer can ask again without starting a second rollback.
    /// - Returns: the op id, and whether this call created it.
    public func start(guest: GuestRecord, backupID: String, idempotencyKey: String? = nil) async throws -> (opID: String, created: Bool) {
        if let idempotencyKey, let existing = try store.rollbackOp(forKey: idempotencyKey, guest: guest.name) {
            return (existing.id, false)
        }
        _ = try await preflight(guest: guest, backupID: backupID)
        let opID = OpID.make(prefix: "r", at: now())
        switch try store.beginRollback(guest: guest.name, backupID: backupID, opID: opID, idempotencyKey: idempotencyKey, now: now()) {
        case .existing(let existing):
            return (existing, false)
        case .conflict(let inFlight):
            throw Refusal.conflict("op \(inFlight) of guest \(guest.name) is still in flight; wait for it to finish")
        case .created:
            logger.info("rollback started", metadata: ["guest": "\(guest.name)", "op_id": "\(opID)", "backup_id": "\(backupID)"])
            queue.yield(Job(opID: opID, guest: guest, backupID: backupID))
            return (opID, true)
        }
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

    /// Cancels a rollback that has not reached its destructive phase. A queued op ends `failed`
    /// at once; a running one stops its extraction, verification or pre-rollback backup, drops its
    /// staging and ends `failed`. Once its journal is written the swap finishes; it takes milliseconds.
    /// - Returns: the op's state now; poll `GET /rollback/status` until it is final.
    public func cancel(guest: GuestRecord, opID: String) throws -> RollbackStatus {
        guard let op = try store.rollbackOp(opID, guest: guest.name) else {
            throw Refusal.notFound("no rollback \(opID) for guest \(guest.name)")
        }
        // One conditional update: a job that claimed the op meanwhile is cancelled as a running one instead.
        if op.state == .started, try store.failQueuedOp(opID, reason: "cancelled before it started; the data dir is unchanged", now: now()) {
            logger.info("rollback cancelled before it started", metadata: ["guest": "\(guest.name)", "op_id": "\(opID)"])
        } else if op.state != .succeeded, op.state != .failed {
            running.withLock { running in
                running.cancelled.insert(opID)
                running.tasks[opID]?.cancel()
            }
            logger.info("rollback cancellation requested", metadata: ["guest": "\(guest.name)", "op_id": "\(opID)"])
        }
        return try store.rollbackOp(opID, guest: guest.name)?.rollbackStatus ?? op.rollbackStatus
    }

    func execute(_ job: Job) async {
        let metadata: Logger.Metadata = ["guest": "\(job.guest.name)", "op_id": "\(job.opID)", "backup_id": "\(job.backupID)"]
        do {
            // Cancelled while queued: it already ended, and must not run after all.
            guard try store.claimQueuedOp(job.opID, now: now()) else {
                logger.info("rollback skipped: it ended before it ran", metadata: metadata)
                return
            }
            logger.info("rollback running", metadata: metadata)
            // A task of its own that `cancel` can reach; the service's shutdown still reaches it through the handler.
            let work = Task { try await runSteps(job, metadata: metadata) }
            running.withLock { running in
                running.tasks[job.opID] = work
                if running.cancelled.contains(job.opID) { work.cancel() }
            }
            defer {
                running.withLock { running in
                    running.tasks[job.opID] = nil
                    running.cancelled.remove(job.opID)
                }
            }
            try await withTaskCancellationHandler {
                try await work.value
            } onCancel: {
                work.cancel()
            }
            try store.succeedOp(job.opID, now: now())
            logger.info("rollback done", metadata: metadata)
        } catch {
            let reason = error is CancellationError ? "cancelled before the swap; the data dir is unchanged" : "\(error)"
            do {
                try store.failOp(job.opID, reason: reason, now: now())
            } catch {
                logger.error("recording a failed rollback failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
            }
            logger.info("rollback failed", metadata: metadata.merging(["error": "\(reason)"]) { $1 })
        }
    }

    private func runSteps(_ job: Job, metadata: Logger.Metadata) async throws {
            try await backend.rollback(opID: job.opID, guest: job.guest, backupID: job.backupID) {
                let startedAt = now()
                let escapeID = OpID.make(prefix: "b", at: startedAt)
                let artifact = try await backend.createBackup(
                    BackupJob(backupID: escapeID, guest: job.guest, startedAt: startedAt),
                    capture: nil
                ) { _ in }
                try store.recordPreRollbackBackup(
                    rollbackID: job.opID, guest: job.guest.name, backupID: escapeID, artifact: artifact, startedAt: startedAt, now: now())
                logger.info("pre-rollback backup taken", metadata: metadata.merging(["pre_rollback_backup_id": "\(escapeID)"]) { $1 })
                return artifact
            }
    }
}

/// Op ids sort by time: `r-20261125T020000Z-1a2b3c4d`.
enum OpID {
    static func make(prefix: String, at date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        let suffix = hexString((0..<4).map { _ in UInt8.random(in: .min ... .max) })
        return "\(prefix)-\(formatter.string(from: date))-\(suffix)"
    }
}
