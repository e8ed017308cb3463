import Foundation
import Logging

/// Resolves every op a crash left in flight, before the agent serves a request.
public struct StartupRecovery: Sendable {
    let store: AgentStore
    let backend: any BackupBackend
    let logger: Logger
    let now: @Sendable () -> Date

    public init(store: AgentStore, backend: any BackupBackend, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.backend = backend
        self.logger = logger
        self.now = now
    }

    /// What the sweep did.
    public struct Report: Sendable, Equatable {
        public var resolvedOps: [String] = []
        public var removedFiles: [String] = []
        /// Captures a crash left beside the guests' data dirs.
        public var removedCaptures: [String] = []
        /// `guest/backup_id` of failed or pruned backups whose files were still there.
        public var removedBackups: [String] = []
        /// `guest/backup_id` of whole backups no journal row named, now recorded as done.
        public var adoptedBackups: [String] = []
        /// `guest/backup_id` of files no journal row names that could not be adopted; left in place.
        public var unknownBackups: [String] = []
        public var rollbacks: [String: String] = [:]
        /// Backups whose work still runs outside the agent; the coordinator follows them again.
        public var resumableBackups: [OpRecord] = []
        /// Scratch copies and probe projects of restore tests a crash interrupted.
        public var removedRestoreTestLeftovers: [String] = []
    }

    /// An interrupted directory backup cannot be resumed: its archive is partial.
    /// It becomes `failed`, and all of its files go.
    public func run() async throws -> Report {
        var report = Report()
        // Rollback journals first: they decide which tree each data dir keeps.
        var swept: [String: RecoveredRollback.Outcome] = [:]
        // A guest whose rollback cannot be resolved now keeps its op in flight, and the others are served.
        var unresolved: Set<String> = []
        for guest in try store.guests() {
            do {
                if let recovered = try await backend.recoverRollback(guest: guest) {
                    swept[recovered.opID] = recovered.outcome
                    report.rollbacks[recovered.opID] = recovered.outcome.rawValue
                }
            } catch {
                unresolved.insert(guest.name)
                logger.error("an interrupted rollback could not be resolved; its op stays in flight until the next start", metadata: [
                    "guest": "\(guest.name)", "error": "\(error)",
                ])
            }
        }
        for op in try store.inFlightOps() {
            switch op.kind {
            case .backup:
                let preparing = try store.preparedState(op.id).map { $0.stage == .preparing || $0.stage == .ready } ?? false
                switch preparing ? .fail("") : await backend.interruptedBackup(op) {
                case .fail(let reason):
                    do {
                        try await backend.discardBackup(guest: op.guest, backupID: op.id)
                    } catch {
                        // The sweep of failed backups' files below, or the next start, tries again.
                        logger.error("removing the files of an interrupted backup failed", metadata: ["op_id": "\(op.id)", "error": "\(error)"])
                    }
                    try store.failOp(op.id, reason: preparing ? "agent restarted while preparing the capture; nothing had been stopped" : reason, now: now())
                case .finished(let artifact):
                    try store.completeBackup(op.id, artifact: artifact, now: now())
                case .stillRunning:
                    report.resumableBackups.append(op)
                    logger.info("interrupted backup still runs; following it again", metadata: ["op_id": "\(op.id)", "guest": "\(op.guest)"])
                    continue
                }
            case .restoreTest:
                try store.failOp(op.id, reason: "agent restarted during restore test", now: now())
            case .rollback:
                switch swept[op.id] {
                case .completed:
                    try store.succeedOp(op.id, now: now())
                case .reverted:
                    try store.failOp(op.id, reason: "agent restarted during rollback; its restore did not finish, and the guest was put back as it was", now: now())
                case .untouched, nil:
                    if unresolved.contains(op.guest) { continue }
                    try store.failOp(op.id, reason: "agent restarted during rollback; nothing was restored, and the guest is as it was", now: now())
                }
            }
            report.resolvedOps.append(op.id)
            let outcome = try store.op(op.id)?.state.rawValue ?? "unknown"
            logger.info("interrupted op resolved at startup", metadata: [
                "op_id": "\(op.id)", "kind": "\(op.kind.rawValue)", "guest": "\(op.guest)", "state": "\(outcome)",
            ])
        }
        // Every op is final now, so no capture is in use: a copy a dead process was writing is never trusted.
        let guests = try store.guests()
        let sweep = await backend.sweepCaptures(
            guests: Dictionary(guests.map { ($0.name, $0.dataDirectory) }, uniquingKeysWith: { first, _ in first }), keeping: [])
        report.removedCaptures = sweep.removed
        for path in sweep.removed {
            logger.info("leftover capture removed", metadata: ["path": "\(path)"])
        }
        // A capture that will not go must not keep the agent from serving every guest.
        for failure in sweep.failures {
            logger.error("a leftover capture could not be removed", metadata: ["error": "\(failure)"])
        }
        report.removedRestoreTestLeftovers = await backend.sweepRestoreTests()
        for what in report.removedRestoreTestLeftovers {
            logger.info("restore test leftover removed", metadata: ["what": "\(what)"])
        }
        report.removedFiles = try await backend.removeLeftovers()
        for path in report.removedFiles {
            logger.info("leftover partial file removed", metadata: ["path": "\(path)"])
        }
        // Files of a backup the journal failed or pruned, left when their removal failed,
        // would otherwise stay forever. Files the journal has never heard of may be an
        // operator's real backups (an older agent.sqlite put back): a whole one is adopted,
        // and anything less stays, named, since deleting it could destroy the only copy.
        for stored in await backend.storedBackups() {
            let metadata: Logger.Metadata = ["guest": "\(stored.guest)", "backup_id": "\(stored.backupID)"]
            switch try store.fileVerdict(backup: stored.backupID, guest: stored.guest) {
            case .keep:
                continue
            case .garbage:
                // Garbage that will not go must not keep the agent from serving every guest.
                do {
                    try await backend.discardBackup(guest: stored.guest, backupID: stored.backupID)
                    report.removedBackups.append(stored.description)
                    logger.info("files of a failed or pruned backup removed", metadata: metadata)
                } catch {
                    logger.error("removing the files of a failed or pruned backup failed; remove them by hand", metadata: metadata.merging(["error": "\(error)"]) { $1 })
                }
            case .unknown:
                if let found = await backend.adoptable(stored), try store.adoptBackup(guest: stored.guest, backupID: stored.backupID, found: found, now: now()) {
                    report.adoptedBackups.append(stored.description)
                    logger.notice("a whole backup the journal did not know was adopted, as crash-consistent", metadata: metadata)
                } else {
                    report.unknownBackups.append(stored.description)
                    logger.warning("backup files the journal does not know, and cannot adopt (no whole archive and manifest, or no such guest), are left in place; remove them by hand if they are not wanted", metadata: metadata)
                }
            }
        }
        return report
    }
}
