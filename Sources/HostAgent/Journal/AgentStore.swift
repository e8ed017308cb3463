import DurableFiles
import Foundation
import Capture
import GRDB

/// The agent's durable state in SQLite: guests, the op journal, and backup records.
///
/// WAL with `synchronous=FULL`: a transaction that returned is on disk, so a
/// state change the agent has acted on survives a crash or a power cut.
public final class AgentStore: Sendable {
    let database: DatabasePool
    /// Modes this open tightened on the database's files (0600), for the caller to log.
    public let tightenedModes: [PrivateState.Change]

    /// Opens (or creates) the database at `path` and applies pending migrations.
    public init(path: String) throws {
        tightenedModes = try PrivateState.prepareDatabaseFile(path)
        var configuration = Configuration()
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        configuration.busyMode = .timeout(10)
        database = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(database)
    }

    /// Append-only: never edit a step that has shipped; add the next one.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: guests, ops, backups") { db in
            try db.create(table: "guest") { table in
                table.primaryKey("name", .text)
                table.column("data_dir", .text).notNull()
                table.column("interval_seconds", .integer).notNull()
                table.column("token_sha256", .text).notNull().unique()
                table.column("backup_requested_at", .datetime)
                table.column("created_at", .datetime).notNull()
            }
            try db.create(table: "op") { table in
                table.primaryKey("id", .text)
                table.column("kind", .text).notNull()
                table.column("guest", .text).notNull().references("guest", onDelete: .restrict)
                table.column("idempotency_key", .text)
                table.column("state", .text).notNull()
                table.column("error", .text)
                table.column("created_at", .datetime).notNull()
                table.column("updated_at", .datetime).notNull()
                table.column("finished_at", .datetime)
                table.uniqueKey(["guest", "kind", "idempotency_key"])
            }
            try db.create(index: "op_in_flight", on: "op", columns: ["state"])
            try db.create(table: "backup") { table in
                table.primaryKey("id", .text).references("op", onDelete: .restrict)
                table.column("guest", .text).notNull()
                table.column("quiesced", .boolean).notNull()
                table.column("stacks", .text).notNull()
                table.column("consistency", .text).notNull()
                table.column("bytes_done", .integer).notNull()
                table.column("bytes_total", .integer)
                table.column("size_bytes", .integer)
                table.column("archive_path", .text)
                table.column("pruned_at", .datetime)
            }
            try db.create(index: "backup_by_guest", on: "backup", columns: ["guest"])
        }
        migrator.registerMigration("v2: rollbacks, and why a backup was taken") { db in
            // NULL for backups a controller asked for; "pre-rollback" for the agent's escape hatch.
            try db.alter(table: "backup") { table in table.add(column: "reason", .text) }
            try db.create(table: "rollback") { table in
                table.primaryKey("id", .text).references("op", onDelete: .restrict)
                table.column("guest", .text).notNull()
                table.column("backup_id", .text).notNull()
                table.column("pre_rollback_backup_id", .text)
            }
        }
        migrator.registerMigration("v3: restore tests and probes") { db in
            try db.alter(table: "guest") { table in table.add(column: "probe", .text) }
            try db.create(table: "restore_test") { table in
                table.primaryKey("id", .text).references("op", onDelete: .restrict)
                table.column("guest", .text).notNull()
                table.column("backup_id", .text).notNull()
                table.column("result", .text)
                table.column("checks", .text).notNull()
            }
            try db.create(index: "restore_test_by_guest", on: "restore_test", columns: ["guest"])
        }
        migrator.registerMigration("v4: backup kinds, for retention per kind") { db in
            try db.alter(table: "backup") { table in
                table.add(column: "kind", .text).notNull().defaults(to: BackupKind.scheduled.rawValue)
            }
            try db.execute(
                sql: "UPDATE backup SET kind = ? WHERE reason = ?",
                arguments: [BackupKind.preRollback.rawValue, BackupKind.preRollback.rawValue])
        }
        migrator.registerMigration("v5: fast capture") { db in
            try db.alter(table: "guest") { table in
                table.add(column: "capture", .text).notNull().defaults(to: CaptureSetting.auto.rawValue)
            }
            try db.alter(table: "backup") { table in
                // NULL for a backup taken before captures existed, or one not yet past POST /backup.
                table.add(column: "stage", .text)
                table.add(column: "capture_method", .text)
                table.add(column: "capture_reason", .text)
                table.add(column: "capture_window_ms", .integer)
                table.add(column: "archive_ms", .integer)
            }
        }
        migrator.registerMigration("v6: Proxmox guests") { db in
            // NULL for a guest of the directory backend.
            try db.alter(table: "guest") { table in table.add(column: "vmid", .integer) }
        }
        return migrator
    }
}
