import AgentAPI
import Foundation
import GRDB

/// A restore test's own columns.
struct RestoreTestRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "restore_test"

    var id: String
    var guest: String
    var backupID: String
    var result: RestoreTestStatus.Result?
    var checks: [RestoreTestCheck]

    enum CodingKeys: String, CodingKey {
        case id, guest, result, checks
        case backupID = "backup_id"
    }
}

/// A restore test with its op: what ran, when, and how it went.
public struct RestoreTestEntry: Sendable, Equatable {
    public var op: OpRecord
    var record: RestoreTestRecord

    public var guest: String { op.guest }
    public var backupID: String { record.backupID }
    public var result: RestoreTestStatus.Result? { record.result }
    public var checks: [RestoreTestCheck] { record.checks }
}

extension AgentStore {
    /// Records a restore test as started.
    public func beginRestoreTest(guest: String, backupID: String, opID: String, now: Date) throws {
        try database.write { db in
            try OpRecord(
                id: opID, kind: .restoreTest, guest: guest, idempotencyKey: nil, state: .running, error: nil,
                createdAt: now, updatedAt: now, finishedAt: nil
            ).insert(db)
            try RestoreTestRecord(id: opID, guest: guest, backupID: backupID, result: nil, checks: []).insert(db)
        }
    }

    /// Records the checks and the result; the op itself succeeded, whatever the result.
    public func finishRestoreTest(_ opID: String, result: RestoreTestStatus.Result, checks: [RestoreTestCheck], now: Date) throws {
        try database.write { db in
            try db.execute(
                sql: "UPDATE restore_test SET result = ?, checks = ? WHERE id = ?",
                arguments: [result.rawValue, String(decoding: try JSONEncoder().encode(checks), as: UTF8.self), opID])
            try setState(db, opID, .succeeded, error: nil, now: now)
        }
    }

    /// Restore tests, newest first; only `guest`'s when given.
    public func restoreTests(guest: String? = nil) throws -> [RestoreTestEntry] {
        try database.read { db in
            var request = OpRecord.filter(Column("kind") == OpKind.restoreTest.rawValue).order(Column("created_at").desc)
            if let guest { request = request.filter(Column("guest") == guest) }
            return try request.fetchAll(db).compactMap { op in
                try RestoreTestRecord.fetchOne(db, key: op.id).map { RestoreTestEntry(op: op, record: $0) }
            }
        }
    }

    /// Sets or clears a guest's probe.
    public func setProbe(guest name: String, probe: RestoreProbe?) throws {
        try database.write { db in
            guard var guest = try GuestRecord.fetchOne(db, key: name) else {
                throw GuestError("no guest named \(name); `felhom-agent guest add` creates one")
            }
            guest.probe = probe
            try guest.update(db)
        }
    }
}
