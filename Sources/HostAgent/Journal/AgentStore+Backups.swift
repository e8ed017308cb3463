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
    ///
    /// With `request.prepareID` naming a `ready` prepare, that op is the backup: it moves to its
    /// window. Naming a prepare that failed, did not finish, or is unknown, a new op archives the live
    /// data dir, and records why there was no fast capture. A prepare that is not yet final is
    /// superseded: no app depends on it, and the controller has moved on.
    /// - Parameter dailyLimit: how many backups (escape hatches aside) the guest may start in 24 hours; `nil` for no limit.
    public func beginBackup(
        guest: String, idempotencyKey: String, request: StartBackupRequest, backupID: String, now: Date, dailyLimit: Int? = nil
    ) throws -> BeginBackupOutcome {
        try database.write { db in
            if let existing = try Self.entry(db, key: idempotencyKey, guest: guest) {
                return .existing(existing)
            }
            var fallbackReason = "POST /backup named no prepare_id, so nothing was captured ahead"
            if let prepareID = request.prepareID, let prepared = try Self.entry(db, id: prepareID, guest: guest) {
                switch (prepared.op.state, prepared.backup.stage) {
                case (.running, .ready):
                    let consistency = request.quiesced ? BackupConsistency.app : .crash
                    try db.execute(
                        sql: "UPDATE backup SET stage = ?, quiesced = ?, stacks = ?, consistency = ? WHERE id = ?",
                        arguments: [BackupStage.started.rawValue, request.quiesced, try Self.encodedStacks(request.stacks), consistency.rawValue, prepareID])
                    return .created(try Self.entry(db, id: prepareID, guest: guest)!)
                case (.started, _), (.running, .preparing):
                    fallbackReason = "prepare \(prepareID) had not finished when the apps were stopped"
                case (.failed, .preparing), (.failed, .ready):
                    fallbackReason = "prepare failed: \(prepared.op.error ?? "no reason recorded")"
                default:
                    // Past its window already: a retry of the POST that started it.
                    return .existing(prepared)
                }
            } else if let prepareID = request.prepareID {
                fallbackReason = "the agent has no prepare \(prepareID) for this guest"
            }
            return try insertBackup(
                db, guest: guest, idempotencyKey: idempotencyKey, request: request, backupID: backupID, now: now,
                dailyLimit: dailyLimit, stage: .started, capture: (.none, fallbackReason))
        }
    }

    /// Records a prepare: a backup op that makes its capture while the apps run, then waits for `POST /backup`.
    public func beginPrepare(guest: String, idempotencyKey: String, backupID: String, now: Date, dailyLimit: Int? = nil) throws -> BeginBackupOutcome {
        try database.write { db in
            if let existing = try Self.entry(db, key: idempotencyKey, guest: guest) {
                return .existing(existing)
            }
            return try insertBackup(
                db, guest: guest, idempotencyKey: idempotencyKey, request: StartBackupRequest(quiesced: false, stacks: []),
                backupID: backupID, now: now, dailyLimit: dailyLimit, stage: .preparing, capture: nil)
        }
    }

    private func insertBackup(
        _ db: Database, guest: String, idempotencyKey: String, request: StartBackupRequest, backupID: String, now: Date,
        dailyLimit: Int?, stage: BackupStage, capture: (method: BackupCaptureMethod, reason: String)?
    ) throws -> BeginBackupOutcome {
        // A backup or a rollback in flight blocks a backup (a rollback rewrites the data a backup reads);
        // a restore test only reads an archive, so it blocks nothing.
        if let blocking = try blockingOp(db, guest: guest, supersededBy: "backup \(backupID)", now: now) {
            return .conflict(inFlightID: blocking)
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
        var backup = BackupRecord(
            id: backupID, guest: guest, quiesced: request.quiesced, stacks: request.stacks,
            consistency: (request.quiesced ? BackupConsistency.app : .crash).rawValue,
            bytesDone: 0, bytesTotal: nil, sizeBytes: nil, archivePath: nil, prunedAt: nil,
            kind: requested == nil ? .scheduled : .manual)
        backup.stage = stage
        backup.captureMethod = capture?.method.rawValue
        backup.captureReason = capture?.reason
        try backup.insert(db)
        return .created(BackupEntry(backup: backup, op: op))
    }

    /// The op of `guest` in flight that blocks a new backup or rollback, if any. A backup still
    /// preparing or ready blocks nothing: no app depends on it, so it is failed here, superseded,
    /// and its task removes its capture.
    func blockingOp(_ db: Database, guest: String, supersededBy successor: String, now: Date) throws -> String? {
        let inFlight = try OpRecord
            .filter(Column("guest") == guest && Column("kind") != OpKind.restoreTest.rawValue)
            .filter([OpState.started.rawValue, OpState.running.rawValue].contains(Column("state")))
            .fetchAll(db)
        for op in inFlight {
            guard op.kind == .backup, let entry = try Self.entry(db, id: op.id, guest: guest),
                  entry.backup.stage == .preparing || entry.backup.stage == .ready else { return op.id }
            try setState(db, op.id, .failed, error: "superseded by \(successor) before its window; its capture was removed", now: now)
        }
        return nil
    }

    private static func encodedStacks(_ stacks: [String]) throws -> String {
        String(decoding: try JSONEncoder().encode(stacks), as: UTF8.self)
    }

    /// Records that prepare made its capture (`method`), or that there will be none and why.
    public func markReady(_ id: String, method: BackupCaptureMethod, reason: String?, now: Date) throws {
        try database.write { db in
            try setState(db, id, .running, error: nil, now: now)
            try db.execute(
                sql: "UPDATE backup SET stage = ?, capture_method = ?, capture_reason = ? WHERE id = ? AND stage = ?",
                arguments: [BackupStage.ready.rawValue, method.rawValue, reason, id, BackupStage.preparing.rawValue])
        }
    }

    /// Records that the capture is complete, `windowMs` after `POST /backup`: the guest may resume.
    public func markSnapshotted(_ id: String, windowMs: Int64) throws {
        try database.write { db in
            try db.execute(
                sql: "UPDATE backup SET stage = ?, capture_window_ms = ? WHERE id = ?",
                arguments: [BackupStage.snapshotted.rawValue, windowMs, id])
        }
    }

    /// Records how long the archive took, and for a backup without a capture the window it was.
    public func recordTimes(_ id: String, archiveMs: Int64, windowMs: Int64?) throws {
        try database.write { db in
            try db.execute(
                sql: "UPDATE backup SET archive_ms = ?, capture_window_ms = COALESCE(capture_window_ms, ?) WHERE id = ?",
                arguments: [archiveMs, windowMs, id])
        }
    }

    /// Whether a backup of `guest` is in flight beyond its prepare: started, in its window, or archiving.
    public func hasBackupPastWindow(guest: String) throws -> Bool {
        try database.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM op JOIN backup ON backup.id = op.id
                WHERE op.guest = ? AND op.state IN (?, ?) AND (backup.stage IS NULL OR backup.stage NOT IN (?, ?))
                """, arguments: [guest, OpState.started.rawValue, OpState.running.rawValue,
                                 BackupStage.preparing.rawValue, BackupStage.ready.rawValue]) ?? 0 > 0
        }
    }

    /// Fails a prepared backup that no `POST /backup` claimed, in the transaction that checks it is
    /// still `ready`; `false` when the POST came first, so its window must run.
    func failIfStillReady(_ id: String, reason: String, now: Date) throws -> Bool {
        try database.write { db in
            guard let stage = try String.fetchOne(db, sql: "SELECT stage FROM backup WHERE id = ?", arguments: [id]),
                  stage == BackupStage.ready.rawValue else { return false }
            try setState(db, id, .failed, error: reason, now: now)
            return true
        }
    }

    /// The op's stage and state, for a prepared backup waiting on its `POST /backup`.
    func preparedState(_ id: String) throws -> (state: OpState, stage: BackupStage?)? {
        try database.read { db in
            guard let entry = try BackupRecord.entries().filter(Column("id") == id).fetchOne(db) else { return nil }
            return (entry.op.state, entry.backup.stage)
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
            // After `snapshotted` the capture was complete before the guest resumed: it stays app-consistent.
            if entry.op.state == .started || entry.op.state == .running, entry.backup.stage != .snapshotted {
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

    private static func entry(_ db: Database, key: String, guest: String) throws -> BackupEntry? {
        try BackupRecord.entries(opFilter: Column("idempotency_key") == key).filter(Column("guest") == guest).fetchOne(db)
    }
}

extension BackupEntry {
    /// The wire form of this backup.
    public var status: BackupStatus {
        let phase: BackupPhase = switch (op.state, backup.stage) {
        case (.started, .preparing), (.running, .preparing): .preparing
        case (.started, _): .queued
        case (.running, .ready): .ready
        case (.running, .snapshotted): .snapshotted
        case (.running, _): .running
        case (.succeeded, _): backup.prunedAt == nil ? .done : .pruned
        case (.failed, _): .failed
        }
        return BackupStatus(
            backupID: op.id, phase: phase,
            consistency: BackupConsistency(rawValue: backup.consistency) ?? .crash,
            startedAt: op.createdAt, finishedAt: op.finishedAt, bytesDone: backup.bytesDone,
            bytesTotal: backup.bytesTotal, error: op.error,
            captureMethod: backup.captureMethod.flatMap(BackupCaptureMethod.init(rawValue:)), captureReason: backup.captureReason,
            captureWindowMs: backup.captureWindowMs, archiveMs: backup.archiveMs)
    }
}

extension AgentStore {
    /// One backup of any guest, for the operator's CLI.
    public func backup(_ id: String) throws -> BackupEntry? {
        try database.read { db in try BackupRecord.entries().filter(Column("id") == id).fetchOne(db) }
    }
}
