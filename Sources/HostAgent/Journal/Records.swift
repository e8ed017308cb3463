import Foundation
import Capture
import GRDB

/// A guest: a name, the directory its backups capture, its schedule, and its token's digest.
public struct GuestRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "guest"

    public var name: String
    public var dataDirectory: String
    public var intervalSeconds: Int
    /// SHA-256 of the bearer token, hex; the token itself is never stored.
    public var tokenSHA256: String
    /// Set by `felhom-agent backup request`; cleared by the next successful backup.
    public var backupRequestedAt: Date?
    public var createdAt: Date
    /// What a restore test starts on the restored data; `nil` runs only the manifest check.
    public var probe: RestoreProbe? = nil
    /// How its backups capture the data dir while the apps are stopped.
    public var capture: CaptureSetting = .auto
    /// The Proxmox container this guest is, for the Proxmox backend; `nil` for a data dir.
    public var vmid: Int? = nil

    public init(name: String, dataDirectory: String, intervalSeconds: Int, tokenSHA256: String, backupRequestedAt: Date?, createdAt: Date) {
        self.name = name
        self.dataDirectory = dataDirectory
        self.intervalSeconds = intervalSeconds
        self.tokenSHA256 = tokenSHA256
        self.backupRequestedAt = backupRequestedAt
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case name
        case dataDirectory = "data_dir"
        case intervalSeconds = "interval_seconds"
        case tokenSHA256 = "token_sha256"
        case backupRequestedAt = "backup_requested_at"
        case createdAt = "created_at"
        case probe, capture, vmid
    }
}

/// A guest's restore-test probe: one compose service from the backup, started on the restored data;
/// or, for a Proxmox guest, a command run in the restored container.
public struct RestoreProbe: Codable, Sendable, Equatable {
    /// The directory inside the data dir that holds the compose file, e.g. `pgapp`.
    public var directory: String
    public var service: String
    /// A log line pattern that must appear, e.g. `database system is ready to accept connections`.
    public var expect: String
    /// A pattern that must not appear, e.g. `redo starts`.
    public var reject: String?
    public var timeoutSeconds: Int
    /// For a Proxmox guest: the argv `pct exec` runs in the restored container; it must exit 0,
    /// and `expect` must be in its output. `nil` for a compose probe.
    public var command: [String]?

    public init(directory: String, service: String, expect: String, reject: String?, timeoutSeconds: Int, command: [String]? = nil) {
        self.directory = directory
        self.service = service
        self.expect = expect
        self.reject = reject
        self.timeoutSeconds = timeoutSeconds
        self.command = command
    }

    enum CodingKeys: String, CodingKey {
        case directory, service, expect, reject, command
        case timeoutSeconds = "timeout_seconds"
    }
}

/// Where an op is in its life. Only `succeeded` and `failed` are final.
public enum OpState: String, Codable, Sendable, CaseIterable {
    case started, running, succeeded, failed

    public var isFinal: Bool { self == .succeeded || self == .failed }
}

/// What an op does.
public enum OpKind: String, Codable, Sendable {
    case backup
    case rollback
    case restoreTest = "restore_test"
}

/// One entry of the op journal.
public struct OpRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "op"

    public var id: String
    public var kind: OpKind
    public var guest: String
    /// Kept forever: the same key from the same guest always names this op.
    public var idempotencyKey: String?
    public var state: OpState
    public var error: String?
    public var createdAt: Date
    public var updatedAt: Date
    public var finishedAt: Date?

    enum CodingKeys: String, CodingKey {
        case id, kind, guest, state, error
        case idempotencyKey = "idempotency_key"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case finishedAt = "finished_at"
    }
}

/// The backup-specific half of a backup op; its id is the op's id.
struct BackupRecord: Codable, Sendable, Equatable, FetchableRecord, PersistableRecord {
    static let databaseTableName = "backup"

    var id: String
    var guest: String
    var quiesced: Bool
    var stacks: [String]
    var consistency: String
    var bytesDone: Int64
    var bytesTotal: Int64?
    var sizeBytes: Int64?
    var archivePath: String?
    var prunedAt: Date?
    /// `pre-rollback` for the agent's own escape-hatch backup; `nil` otherwise. Superseded by `kind`.
    var reason: String? = nil
    var kind: BackupKind = .scheduled
    /// Where a backup that is not final stands; see ``BackupStage``.
    var stage: BackupStage? = nil
    /// `snapshot`, `reflink`, `copy` or `none`, once known.
    var captureMethod: String? = nil
    /// Why there was no fast capture.
    var captureReason: String? = nil
    var captureWindowMs: Int64? = nil
    var archiveMs: Int64? = nil

    enum CodingKeys: String, CodingKey {
        case id, guest, quiesced, stacks, consistency, reason, kind, stage
        case captureMethod = "capture_method"
        case captureReason = "capture_reason"
        case captureWindowMs = "capture_window_ms"
        case archiveMs = "archive_ms"
        case bytesDone = "bytes_done"
        case bytesTotal = "bytes_total"
        case sizeBytes = "size_bytes"
        case archivePath = "archive_path"
        case prunedAt = "pruned_at"
    }
}

/// Where a backup op that is not final stands, beyond its op state.
enum BackupStage: String, Codable, Sendable {
    /// `POST /backup/prepare` is making the capture.
    case preparing
    /// The capture is made; the op waits for `POST /backup`.
    case ready
    /// `POST /backup` came: the window runs, or without a capture the whole archive.
    case started
    /// The capture is complete; the archive is written from it.
    case snapshotted
}

/// A backup as the agent reports it: the op and its backup record together.
public struct BackupEntry: Decodable, Sendable, Equatable, FetchableRecord {
    var backup: BackupRecord
    public var op: OpRecord

    public var backupID: String { op.id }
    public var guest: String { op.guest }
    public var sizeBytes: Int64? { backup.sizeBytes }
    public var archivePath: String? { backup.archivePath }
}

extension BackupRecord {
    static let op = belongsTo(OpRecord.self)

    /// Backups with their ops, newest first.
    /// `opFilter` narrows by the op's columns: its state, its idempotency key.
    static func entries(opFilter: SQLExpression? = nil) -> QueryInterfaceRequest<BackupEntry> {
        var association = op.order(Column("created_at").desc)
        if let opFilter { association = association.filter(opFilter) }
        return BackupRecord.including(required: association).asRequest(of: BackupEntry.self)
    }
}
