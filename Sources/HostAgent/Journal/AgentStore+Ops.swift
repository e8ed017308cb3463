import Foundation
import GRDB

extension AgentStore {
    /// Every op in the journal, newest first.
    public func ops() throws -> [OpRecord] {
        try database.read { db in try OpRecord.order(Column("created_at").desc).fetchAll(db) }
    }

    /// One op, or `nil`.
    public func op(_ id: String) throws -> OpRecord? {
        try database.read { db in try OpRecord.fetchOne(db, key: id) }
    }

    /// Ops that are neither succeeded nor failed: after a crash, the ones it interrupted.
    public func inFlightOps() throws -> [OpRecord] {
        try database.read { db in
            try OpRecord
                .filter([OpState.started.rawValue, OpState.running.rawValue].contains(Column("state")))
                .order(Column("created_at"))
                .fetchAll(db)
        }
    }

    func setState(_ id: String, _ state: OpState, error: String?, now: Date) throws {
        try database.write { db in try setState(db, id, state, error: error, now: now) }
    }

    /// A final op never moves again; that is what makes a succeeded key stay applied.
    func setState(_ db: Database, _ id: String, _ state: OpState, error: String?, now: Date) throws {
        try db.execute(
            sql: """
                UPDATE op SET state = ?, error = ?, updated_at = ?, finished_at = ?
                WHERE id = ? AND state NOT IN (?, ?)
                """,
            arguments: [
                state.rawValue, error, now, state.isFinal ? now : nil, id,
                OpState.succeeded.rawValue, OpState.failed.rawValue,
            ])
    }
}
