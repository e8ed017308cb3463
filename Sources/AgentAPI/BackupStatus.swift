import Foundation

/// Where a backup is in its life.
public enum BackupPhase: String, Codable, Sendable, CaseIterable {
    case queued, running
    /// The data is captured; the guest may resume while the backup finishes.
    case snapshotted
    case done, failed
    /// The backup succeeded, and retention has since removed it; it cannot be restored.
    case pruned

    /// Whether the controller may restart its stacks: the data is captured or the backup is over.
    public var releasesGuest: Bool {
        switch self {
        case .snapshotted, .done, .failed, .pruned: true
        case .queued, .running: false
        }
    }
}

/// Whether a backup captured the apps at rest (`app`) or while they ran (`crash`).
public enum BackupConsistency: String, Codable, Sendable {
    case app, crash
}

/// `GET /backup/status`, and one element of `GET /backups`.
public struct BackupStatus: Codable, Sendable, Equatable {
    public var backupID: String
    public var phase: BackupPhase
    public var consistency: BackupConsistency
    public var startedAt: Date
    public var finishedAt: Date?
    public var bytesDone: Int64
    /// `nil` while the total is not yet known.
    public var bytesTotal: Int64?
    /// Why the backup failed; `nil` unless `phase` is `failed`.
    public var error: String?

    public init(
        backupID: String, phase: BackupPhase, consistency: BackupConsistency, startedAt: Date,
        finishedAt: Date?, bytesDone: Int64, bytesTotal: Int64?, error: String?
    ) {
        self.backupID = backupID
        self.phase = phase
        self.consistency = consistency
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case phase, consistency, error
        case backupID = "backup_id"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case bytesDone = "bytes_done"
        case bytesTotal = "bytes_total"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(backupID, forKey: .backupID)
        try container.encode(phase, forKey: .phase)
        try container.encode(consistency, forKey: .consistency)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(bytesDone, forKey: .bytesDone)
        try container.encode(bytesTotal, forKey: .bytesTotal)
        try container.encode(error, forKey: .error)
    }
}
