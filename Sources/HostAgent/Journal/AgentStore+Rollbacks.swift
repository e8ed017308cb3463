import AgentAPI
import Foundation
import GRDB

/// A rollback op's own columns.
struct RollbackRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "rollback"

    var id: String
    var guest: String
    var backupID: String
    var preRollbackBackupID: String?

    enum CodingKeys: String, CodingKey {
        case id, guest
        case backupID = "backup_id"
        case preRollbackBackupID = "pre_rollback_backup_id"
    }
}

/// What `POST /rollback` led to.
public enum BeginRollbackOutcome: Sendable, Equatable {
    case created(opID: String)
    /// The idempotency key already names this op; nothing new was started.
    case existing(opID: String)
    case conflict(inFlightID: String)
}

extension AgentStore {
    /// Records a rollback op unless another op of the guest is in flight, or `idempotencyKey` already names one.
    public func beginRollback(guest: String, backupID: String, opID: String, idempotencyKey: String? = nil, now: Date) throws -> BeginRollbackOutcome {
        try database.write { db in
            if let idempotencyKey, let existing = try OpRecord
                .filter(Column("guest") == guest && Column("kind") == OpKind.rollback.rawValue && Column("idempotency_key") == idempotencyKey)
                .fetchOne(db) {
                return .existing(opID: existing.id)
            }
            if let blocking = try blockingOp(db, guest: guest, supersededBy: "rollback \(opID)", now: now) {
                return .conflict(inFlightID: blocking)
            }
            try OpRecord(
                id: opID, kind: .rollback, guest: guest, idempotencyKey: idempotencyKey, state: .started, error: nil,
                createdAt: now, updatedAt: now, finishedAt: nil
            ).insert(db)
            try RollbackRecord(id: opID, guest: guest, backupID: backupID, preRollbackBackupID: nil).insert(db)
            return .created(opID: opID)
        }
    }

    /// The op of one rollback of `guest`; `nil` for another guest's or an unknown id.
    public func rollbackOp(_ id: String, guest: String) throws -> OpRecord? {
        try database.read { db in
            try OpRecord.filter(Column("id") == id && Column("guest") == guest && Column("kind") == OpKind.rollback.rawValue).fetchOne(db)
        }
    }

    /// The rollback op `idempotencyKey` names for `guest`, if any.
    public func rollbackOp(forKey idempotencyKey: String, guest: String) throws -> OpRecord? {
        try database.read { db in
            try OpRecord.filter(
                Column("guest") == guest && Column("kind") == OpKind.rollback.rawValue && Column("idempotency_key") == idempotencyKey
            ).fetchOne(db)
        }
    }

    /// The guest's newest rollback op; `nil` when it has none.
    public func latestRollbackOp(guest: String) throws -> OpRecord? {
        try database.read { db in
            try OpRecord.filter(Column("guest") == guest && Column("kind") == OpKind.rollback.rawValue)
                .order(Column("created_at").desc, Column("id").desc).fetchOne(db)
        }
    }

    /// Moves a queued op to running; `false` when it is no longer queued (cancelled meanwhile).
    public func claimQueuedOp(_ id: String, now: Date) throws -> Bool {
        try database.write { db in
            try db.execute(
                sql: "UPDATE op SET state = ?, updated_at = ? WHERE id = ? AND state = ?",
                arguments: [OpState.running.rawValue, now, id, OpState.started.rawValue])
            return db.changesCount == 1
        }
    }

    /// Ends a queued op as `failed`; `false` when it is no longer queued (a job claimed it meanwhile).
    public func failQueuedOp(_ id: String, reason: String, now: Date) throws -> Bool {
        try database.write { db in
            try db.execute(
                sql: "UPDATE op SET state = ?, error = ?, updated_at = ?, finished_at = ? WHERE id = ? AND state = ?",
                arguments: [OpState.failed.rawValue, reason, now, now, id, OpState.started.rawValue])
            return db.changesCount == 1
        }
    }

    /// The backup a rollback restores.
    public func rollbackTarget(_ id: String) throws -> String? {
        try database.read { db in try RollbackRecord.fetchOne(db, key: id)?.backupID }
    }

    /// Records the escape-hatch backup of the data as it was before the rollback, as a finished backup.
    public func recordPreRollbackBackup(rollbackID: String, guest: String, backupID: String, artifact: BackupArtifact, startedAt: Date, now: Date) throws {
        try database.write { db in
            try OpRecord(
                id: backupID, kind: .backup, guest: guest, idempotencyKey: "pre-rollback:\(rollbackID)", state: .succeeded,
                error: nil, createdAt: startedAt, updatedAt: now, finishedAt: now
            ).insert(db)
            try BackupRecord(
                id: backupID, guest: guest, quiesced: true, stacks: [], consistency: BackupConsistency.app.rawValue,
                bytesDone: artifact.dataBytes, bytesTotal: artifact.dataBytes, sizeBytes: artifact.sizeBytes,
                archivePath: artifact.archivePath, prunedAt: nil, reason: BackupKind.preRollback.rawValue, kind: .preRollback
            ).insert(db)
            try db.execute(sql: "UPDATE rollback SET pre_rollback_backup_id = ? WHERE id = ?", arguments: [backupID, rollbackID])
        }
    }

    /// Ends an op as `succeeded`.
    public func succeedOp(_ id: String, now: Date) throws {
        try setState(id, .succeeded, error: nil, now: now)
    }
}

extension OpRecord {
    /// The wire form of a rollback op.
    public var rollbackStatus: RollbackStatus {
        let phase: RollbackPhase = switch state {
        case .started: .queued
        case .running: .running
        case .succeeded: .done
        case .failed: .failed
        }
        return RollbackStatus(opID: id, phase: phase, error: error)
    }
}
