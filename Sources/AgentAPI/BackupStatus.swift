import Foundation

/// Where a backup is in its life.
public enum BackupPhase: String, Codable, Sendable, CaseIterable {
    /// `POST /backup/prepare` is making the capture while the apps run.
    case preparing
    /// The capture is made; `POST /backup` with this id runs the short window.
    case ready
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
        case .preparing, .ready, .queued, .running: false
        }
    }
}

/// Whether a backup captured the apps at rest (`app`) or while they ran (`crash`).
public enum BackupConsistency: String, Codable, Sendable {
    case app, crash
}

/// How the agent captured the stopped state; `none` when the apps stayed down for the whole archive.
public enum BackupCaptureMethod: String, Codable, Sendable, CaseIterable {
    case snapshot, reflink, copy, none
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
    /// How the stopped state was captured; `nil` until the agent knows.
    public var captureMethod: BackupCaptureMethod?
    /// Why there was no fast capture (`captureMethod` is `none`), or why it was slower than the
    /// file system allows (a copy on ZFS, say); `nil` otherwise.
    public var captureReason: String?
    /// From `POST /backup` to the capture being complete: how long the apps had to stay down for it.
    public var captureWindowMs: Int64?
    /// How long writing the archive took.
    public var archiveMs: Int64?
    /// What a running backup waits for before it can go on (the Proxmox node's vzdump lock);
    /// absent when it waits for nothing.
    public var waitingFor: String?

    public init(
        backupID: String, phase: BackupPhase, consistency: BackupConsistency, startedAt: Date,
        finishedAt: Date?, bytesDone: Int64, bytesTotal: Int64?, error: String?,
        captureMethod: BackupCaptureMethod? = nil, captureReason: String? = nil,
        captureWindowMs: Int64? = nil, archiveMs: Int64? = nil
    ) {
        self.backupID = backupID
        self.phase = phase
        self.consistency = consistency
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
        self.error = error
        self.captureMethod = captureMethod
        self.captureReason = captureReason
        self.captureWindowMs = captureWindowMs
        self.archiveMs = archiveMs
    }

    enum CodingKeys: String, CodingKey {
        case phase, consistency, error
        case backupID = "backup_id"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case bytesDone = "bytes_done"
        case bytesTotal = "bytes_total"
        case captureMethod = "capture_method"
        case captureReason = "capture_reason"
        case captureWindowMs = "capture_window_ms"
        case archiveMs = "archive_ms"
        case waitingFor = "waiting_for"
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
        try container.encode(captureMethod, forKey: .captureMethod)
        try container.encode(captureReason, forKey: .captureReason)
        try container.encode(captureWindowMs, forKey: .captureWindowMs)
        try container.encode(archiveMs, forKey: .archiveMs)
        // Absent rather than null: most backups never wait, and the earlier answers stay as they were.
        try container.encodeIfPresent(waitingFor, forKey: .waitingFor)
    }
}
