/// The body of `POST /backup`. The request also carries an `Idempotency-Key` header.
public struct StartBackupRequest: Codable, Sendable, Equatable {
    /// Whether the controller stopped the guest's app stacks for this backup.
    public var quiesced: Bool
    /// The stacks it stopped.
    public var stacks: [String]
    /// The backup `POST /backup/prepare` made ready: this request runs its short window. When that
    /// prepare failed, or is `nil`, the backup archives the live data dir while the apps stay down.
    public var prepareID: String?

    public init(quiesced: Bool, stacks: [String], prepareID: String? = nil) {
        self.quiesced = quiesced
        self.stacks = stacks
        self.prepareID = prepareID
    }

    enum CodingKeys: String, CodingKey {
        case quiesced, stacks
        case prepareID = "prepare_id"
    }
}

/// The answer to `POST /backup`: 202 for a new backup, 200 when the idempotency key names one already started.
public struct StartBackupResponse: Codable, Sendable, Equatable {
    public var backupID: String
    public var phase: BackupPhase

    public init(backupID: String, phase: BackupPhase) {
        self.backupID = backupID
        self.phase = phase
    }

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id"
        case phase
    }
}

/// The body of `POST /backup/resumed`: the controller restarted its stacks before
/// the backup reached `snapshotted` or `done`, so the backup is only crash-consistent.
public struct BackupResumedRequest: Codable, Sendable, Equatable {
    public var backupID: String

    public init(backupID: String) {
        self.backupID = backupID
    }

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id"
    }
}
