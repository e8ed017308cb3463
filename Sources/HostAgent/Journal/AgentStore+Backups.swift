import AgentAPI
import Foundation
import GRDB

/// What `POST /backup` led to.
public enum BeginBackupOutcome: Sendable, Equatable {
    /// A new backup was recorded as `started`; it must now be run.
    case created(BackupEntry)
    /// The idempotency key already names this backup; nothing new was started.
    case existing(BackupEntry)
    /// Another backup of the guest is in flight.
    case conflict(inFlightID: String)
    /// The guest has started `limit` backups in the last 24 hours; the next may start at `nextAllowedAt`.
    case limitReached(limit: Int, nextAllowedAt: Date)
}

extension AgentStore {
    /// Records a new backup op, unless the key is known or another backup is in flight.
    /// The checks and the insert are one transaction, so two racing requests cannot both start one.
    /// - Parameter dailyLimit: how many backups (escape hatches aside) the guest may start in 24 hours; `nil` for no limit.
    public func beginBackup(
        guest: String, idempotencyKey: String, request: StartBackupRequest, backupID: String, now: Date, dailyLimit: Int? = nil
    ) throws -> BeginBackupOutcome {
        try database.write { db in
            if let existing = try BackupRecord.entries(opFilter: Column("idempotency_key") == idempotencyKey)
                .filter(Column("guest") == guest)
                .fetchOne(db) {
                return .existing(existing)
            }
            // A backup or a rollback in flight blocks a backup (a rollback rewrites the data a backup reads);
            // a restore test only reads an archive, so it blocks nothing.
            if let running = try OpRecord
                .filter(Column("guest") == guest && Column("kind") != OpKind.restoreTest.rawValue)
                .filter([OpState.started.rawValue, OpState.running.rawValue].contains(Column("state")))
                .fetchOne(db) {
                return .conflict(inFlightID: running.id)
            }
            if let dailyLimit, let next = try Self.nextAllowedStart(db, guest: guest, dailyLimit: dailyLimit, now: now) {
                return .limitReached(limit: dailyLimit, nextAllowedAt: next)
            }
            let op = OpRecord(
                id: backupID, kind: .backup, guest: guest, idempotencyKey: idempotencyKey, state: .started,
                error: nil, createdAt: now, updatedAt: now, finishedAt: nil)
            try op.insert(db)
            // An operator's `backup request` made this one due; otherwise the interval did.
            let requested = try Date.fetchOne(db, sql: "SELECT backup_requested_at FROM guest WHERE name = ?", arguments: [guest])
            let backup = BackupRecord(
                id: backupID, guest: guest, quiesced: request.quiesced, stacks: request.stacks,
                consistency: (request.quiesced ? BackupConsistency.app : .crash).rawValue,
                bytesDone: 0, bytesTotal: nil, sizeBytes: nil, archivePath: nil, prunedAt: nil,
                kind: requested == nil ? .scheduled : .manual)
            try backup.insert(db)
            return .created(BackupEntry(backup: backup, op: op))
        }
    }

    /// Moves an op to `running`.
    public func markRunning(_ id: String, now: Date) throws {
        try setState(id, .running, error: nil, now: now)
    }

    /// Records how far a running backup has got.
    public func recordProgress(_ id: String, _ progress: BackupProgress) throws {
        try database.write { db in
            try db.execute(
                sql: "UPDATE backup SET bytes_done = ?, bytes_total = COALESCE(?, bytes_total) WHERE id = ?",
                arguments: [progress.bytesDone, progress.bytesTotal, id])
        }
    }

    /// Records a finished backup and clears a pending request that it satisfies.
    public func completeBackup(_ id: String, artifact: BackupArtifact, now: Date) throws {
        try database.write { db in
            guard let op = try OpRecord.fetchOne(db, key: id) else { return }
            try db.execute(
                sql: "UPDATE backup SET bytes_done = ?, bytes_total = ?, size_bytes = ?, archive_path = ? WHERE id = ?",
                arguments: [artifact.dataBytes, artifact.dataBytes, artifact.sizeBytes, artifact.archivePath, id])
            try db.execute(
                sql: "UPDATE guest SET backup_requested_at = NULL WHERE name = ? AND backup_requested_at <= ?",
                arguments: [op.guest, op.createdAt])
            try setState(db, id, .succeeded, error: nil, now: now)
        }
    }

    /// Records a finished backup whose files no journal row names (an older `agent.sqlite` put
    /// back, say), so it is listed, restorable and under retention again. Nothing says whether its
    /// apps were quiesced, so it counts as crash-consistent. `false` when the guest is unknown.
    public func adoptBackup(guest: String, backupID: String, found: AdoptableBackup, now: Date) throws -> Bool {
        try database.write { db in
            guard try GuestRecord.filter(Column("name") == guest).fetchCount(db) == 1 else { return false }
            try OpRecord(
                id: backupID, kind: .backup, guest: guest, idempotencyKey: nil, state: .succeeded,
                error: nil, createdAt: found.createdAt, updatedAt: now, finishedAt: now
            ).insert(db)
            try BackupRecord(
                id: backupID, guest: guest, quiesced: false, stacks: [], consistency: BackupConsistency.crash.rawValue,
                bytesDone: found.artifact.dataBytes, bytesTotal: found.artifact.dataBytes, sizeBytes: found.artifact.sizeBytes,
                archivePath: found.artifact.archivePath, prunedAt: nil, kind: .manual
            ).insert(db)
            return true
        }
    }

    /// Moves an op to `failed` with the reason.
    public func failOp(_ id: String, reason: String, now: Date) throws {
        try setState(id, .failed, error: reason, now: now)
    }

    /// Records that the guest resumed before the backup captured its data, so the
    /// backup is only crash-consistent. Returns `nil` when the guest has no such backup.
    public func markResumed(_ id: String, guest: String) throws -> BackupEntry? {
        try database.write { db in
            guard let entry = try Self.entry(db, id: id, guest: guest) else { return nil }
            if entry.op.state == .started || entry.op.state == .running {
                try db.execute(sql: "UPDATE backup SET consistency = ? WHERE id = ?", arguments: [BackupConsistency.crash.rawValue, id])
            }
            return try Self.entry(db, id: id, guest: guest)
        }
    }

    /// One backup of `guest`; `nil` for an unknown id or another guest's.
    public func backup(_ id: String, guest: String) throws -> BackupEntry? {
        try database.read { db in try Self.entry(db, id: id, guest: guest) }
    }

    /// The guest's most recent backup, in any phase.
    public func latestBackup(guest: String) throws -> BackupEntry? {
        try database.read { db in try BackupRecord.entries().filter(Column("guest") == guest).fetchOne(db) }
    }

    /// Backups that are done or in flight and not pruned, newest first; failed ones live only in the journal.
    public func listedBackups(guest: String?) throws -> [BackupEntry] {
        try database.read { db in
            var request = BackupRecord.entries(opFilter: Column("state") != OpState.failed.rawValue)
                .filter(Column("pruned_at") == nil)
            if let guest { request = request.filter(Column("guest") == guest) }
            return try request.fetchAll(db)
        }
    }

    /// When the guest's last successful backup started.
    public func lastSuccessfulBackup(guest: String) throws -> Date? {
        try database.read { db in
            try Date.fetchOne(db, sql: """
                SELECT op.created_at FROM op JOIN backup ON backup.id = op.id
                WHERE op.guest = ? AND op.state = ? ORDER BY op.created_at DESC LIMIT 1
                """, arguments: [guest, OpState.succeeded.rawValue])
        }
    }

    /// Marks the successful, unpruned backups retention lets go as pruned, and returns them.
    /// The caller deletes their files afterwards.
    ///
    /// Scheduled and manual backups keep the newest `keepLast`; `pre-rollback`
    /// ones the newest `keepPreRollback`, apart, so escape hatches never push a
    /// real backup out. Never pruned, whatever the counts: a backup a rollback or
    /// a restore test in flight is reading, and the newest one that passed a restore test.
    public func pruneBackups(guest: String, retention: Retention, now: Date) throws -> [BackupEntry] {
        try database.write { db in
            let kept = try Self.backupsRetentionMustKeep(db, guest: guest)
            let live = try BackupRecord.entries(opFilter: Column("state") == OpState.succeeded.rawValue)
                .filter(Column("guest") == guest && Column("pruned_at") == nil)
                .fetchAll(db)
            let escapes = live.filter { $0.backup.kind == .preRollback }
            let real = live.filter { $0.backup.kind != .preRollback }
            let surplus = (real.dropFirst(retention.keepLast) + escapes.dropFirst(retention.keepPreRollback))
                .filter { !kept.contains($0.backupID) }
            for entry in surplus {
                try db.execute(sql: "UPDATE backup SET pruned_at = ? WHERE id = ?", arguments: [now, entry.backupID])
            }
            return Array(surplus)
        }
    }

    /// When `guest` may start its next backup, or `nil` when it may now: the backups it started in
    /// the last 24 hours that did not fail count against `dailyLimit`; pre-rollback ones never do.
    public func nextAllowedStart(guest: String, dailyLimit: Int, now: Date) throws -> Date? {
        try database.read { db in try Self.nextAllowedStart(db, guest: guest, dailyLimit: dailyLimit, now: now) }
    }

    private static func nextAllowedStart(_ db: Database, guest: String, dailyLimit: Int, now: Date) throws -> Date? {
        let window: TimeInterval = 86400
        let recent = try Date.fetchAll(db, sql: """
            SELECT op.created_at FROM op JOIN backup ON backup.id = op.id
            WHERE op.guest = ? AND backup.kind != ? AND op.state != ? AND op.created_at > ? ORDER BY op.created_at
            """, arguments: [guest, BackupKind.preRollback.rawValue, OpState.failed.rawValue, now.addingTimeInterval(-window)])
        guard recent.count >= dailyLimit else { return nil }
        // Once this one leaves the window, one fewer than the limit remains.
        return recent[recent.count - dailyLimit].addingTimeInterval(window)
    }

    /// Backups in use by an op in flight, and the newest that passed a restore test.
    private static func backupsRetentionMustKeep(_ db: Database, guest: String) throws -> Set<String> {
        let inFlight = [OpState.started.rawValue, OpState.running.rawValue]
        var kept = Set<String>()
        for table in ["rollback", "restore_test"] {
            kept.formUnion(try String.fetchAll(db, sql: """
                SELECT t.backup_id FROM \(table) t JOIN op ON op.id = t.id
                WHERE t.guest = ? AND op.state IN (?, ?)
                """, arguments: [guest] + StatementArguments(inFlight)))
        }
        if let proven = try String.fetchOne(db, sql: """
            SELECT t.backup_id FROM restore_test t JOIN op ON op.id = t.id
            WHERE t.guest = ? AND t.result = ? ORDER BY op.created_at DESC LIMIT 1
            """, arguments: [guest, RestoreTestStatus.Result.passed.rawValue]) {
            kept.insert(proven)
        }
        return kept
    }

    /// What the journal says of a backup's files found in the repository.
    public enum FileVerdict: Sendable, Equatable {
        /// A listed backup: succeeded and not pruned.
        case keep
        /// The journal failed or pruned it; its files are garbage.
        case garbage
        /// No journal row names it, e.g. after the database was replaced by an older copy.
        case unknown
    }

    /// Whether the journal still needs a backup's files.
    public func fileVerdict(backup id: String, guest: String) throws -> FileVerdict {
        guard let entry = try backup(id, guest: guest) else { return .unknown }
        return entry.op.state == .succeeded && entry.backup.prunedAt == nil ? .keep : .garbage
    }

    private static func entry(_ db: Database, id: String, guest: String) throws -> BackupEntry? {
        try BackupRecord.entries().filter(Column("id") == id && Column("guest") == guest).fetchOne(db)
    }
}

extension BackupEntry {
    /// The wire form of this backup.
    public var status: BackupStatus {
        let phase: BackupPhase = switch op.state {
        case .started: .queued
        case .running: .running
        case .succeeded: backup.prunedAt == nil ? .done : .pruned
        case .failed: .failed
        }
        return BackupStatus(
            backupID: op.id, phase: phase,
            consistency: BackupConsistency(rawValue: backup.consistency) ?? .crash,
            startedAt: op.createdAt, finishedAt: op.finishedAt, bytesDone: backup.bytesDone,
            bytesTotal: backup.bytesTotal, error: op.error)
    }
}

extension AgentStore {
    /// One backup of any guest, for the operator's CLI.
    public func backup(_ id: String) throws -> BackupEntry? {
        try database.read { db in try BackupRecord.entries().filter(Column("id") == id).fetchOne(db) }
    }
}
