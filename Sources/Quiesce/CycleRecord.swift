import AgentAPI
import DurableFiles
import Foundation
import GRDB

/// What a cycle stops the stacks for.
public enum CycleKind: String, Codable, Sendable {
    case backup, rollback
}

/// How a cycle ended.
public enum CycleOutcome: String, Codable, Sendable {
    /// The backup captured the stopped apps and they all run again.
    case succeeded
    /// Something failed; the stacks were restarted.
    case failed
    /// A crashed controller's cycle, finished by the next one's startup recovery.
    case recovered
}

/// One quiesce cycle as recorded in `state_dir/controller.sqlite`.
public struct CycleRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "cycle"

    public var id: String
    public var kind: CycleKind
    public var startedAt: Date
    public var finishedAt: Date?
    public var stacks: [String]
    public var backupID: String?
    /// The last backup phase the controller saw.
    public var phaseReached: BackupPhase?
    public var consistency: BackupConsistency?
    public var outcome: CycleOutcome
    public var error: String?
    /// Milliseconds each stack was down, from the start of its stop to the end of its start.
    public var downtimeMs: [String: Int]
    /// How the agent captured the stopped apps; `none` when they stayed down for the whole archive.
    public var captureMethod: BackupCaptureMethod?
    /// Why there was no fast capture.
    public var captureReason: String?
    /// From `POST /backup` to the capture being complete, as the agent measured it.
    public var captureWindowMs: Int64?

    public init(
        id: String, kind: CycleKind = .backup, startedAt: Date, finishedAt: Date?, stacks: [String], backupID: String?, phaseReached: BackupPhase?,
        consistency: BackupConsistency?, outcome: CycleOutcome, error: String?, downtimeMs: [String: Int],
        captureMethod: BackupCaptureMethod? = nil, captureReason: String? = nil, captureWindowMs: Int64? = nil
    ) {
        self.id = id
        self.kind = kind
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.stacks = stacks
        self.backupID = backupID
        self.phaseReached = phaseReached
        self.consistency = consistency
        self.outcome = outcome
        self.error = error
        self.downtimeMs = downtimeMs
        self.captureMethod = captureMethod
        self.captureReason = captureReason
        self.captureWindowMs = captureWindowMs
    }

    enum CodingKeys: String, CodingKey {
        case id, kind, stacks, consistency, outcome, error
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case backupID = "backup_id"
        case phaseReached = "phase_reached"
        case downtimeMs = "downtime_ms"
        case captureMethod = "capture_method"
        case captureReason = "capture_reason"
        case captureWindowMs = "capture_window_ms"
    }
}

/// The cycle records, in SQLite (WAL, synchronous=FULL).
public final class CycleStore: Sendable {
    let database: DatabasePool
    /// Modes this open tightened on the database's files, for the caller to log.
    public let tightenedModes: [PrivateState.Change]

    public init(path: String) throws {
        tightenedModes = try PrivateState.prepareDatabaseFile(path)
        var configuration = Configuration()
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
        configuration.busyMode = .timeout(10)
        database = try DatabasePool(path: path, configuration: configuration)
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: cycles") { db in
            try db.create(table: "cycle") { table in
                table.primaryKey("id", .text)
                table.column("started_at", .datetime).notNull()
                table.column("finished_at", .datetime)
                table.column("stacks", .text).notNull()
                table.column("backup_id", .text)
                table.column("phase_reached", .text)
                table.column("consistency", .text)
                table.column("outcome", .text).notNull()
                table.column("error", .text)
                table.column("downtime_ms", .text).notNull()
            }
        }
        migrator.registerMigration("v2: rollback cycles") { db in
            try db.alter(table: "cycle") { table in table.add(column: "kind", .text).notNull().defaults(to: CycleKind.backup.rawValue) }
        }
        migrator.registerMigration("v3: captures") { db in
            try db.alter(table: "cycle") { table in
                table.add(column: "capture_method", .text)
                table.add(column: "capture_reason", .text)
                table.add(column: "capture_window_ms", .integer)
            }
        }
        try migrator.migrate(database)
    }

    public func save(_ record: CycleRecord) throws {
        try database.write { db in try record.save(db) }
    }

    /// The newest first.
    public func recent(limit: Int = 50) throws -> [CycleRecord] {
        try database.read { db in try CycleRecord.order(Column("started_at").desc).limit(limit).fetchAll(db) }
    }
}
