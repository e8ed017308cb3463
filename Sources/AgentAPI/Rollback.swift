/// The body of `POST /rollback`: restore the guest's data dir to one of its own backups.
public struct RollbackRequest: Codable, Sendable, Equatable {
    public var backupID: String

    public init(backupID: String) {
        self.backupID = backupID
    }

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id"
    }
}

/// The body of `POST /rollback/cancel`: stop a rollback before its destructive phase.
public struct RollbackCancelRequest: Codable, Sendable, Equatable {
    public var opID: String

    public init(opID: String) {
        self.opID = opID
    }

    enum CodingKeys: String, CodingKey {
        case opID = "op_id"
    }
}

/// The answer to `GET /rollback/preflight`: the rollback would start now; nothing was touched.
///
/// The controller asks this before it writes its marker, so a wrong or
/// unrestorable backup id costs no downtime.
public struct RollbackPreflight: Codable, Sendable, Equatable {
    public var backupID: String
    /// The bytes the rollback will stage beside the guest's data.
    public var dataBytes: Int64

    public init(backupID: String, dataBytes: Int64) {
        self.backupID = backupID
        self.dataBytes = dataBytes
    }

    enum CodingKeys: String, CodingKey {
        case backupID = "backup_id"
        case dataBytes = "data_bytes"
    }
}

/// The answer to `POST /rollback`: 202 with the op to poll.
public struct RollbackStarted: Codable, Sendable, Equatable {
    public var opID: String

    public init(opID: String) {
        self.opID = opID
    }

    enum CodingKeys: String, CodingKey {
        case opID = "op_id"
    }
}

/// Where a rollback is in its life.
public enum RollbackPhase: String, Codable, Sendable {
    case queued, running, done, failed

    /// Whether the rollback is over, one way or the other.
    public var isFinal: Bool { self == .done || self == .failed }
}

/// `GET /rollback/status?op_id=`.
public struct RollbackStatus: Codable, Sendable, Equatable {
    public var opID: String
    public var phase: RollbackPhase
    /// Why it failed; `nil` unless `phase` is `failed`.
    public var error: String?

    public init(opID: String, phase: RollbackPhase, error: String?) {
        self.opID = opID
        self.phase = phase
        self.error = error
    }

    enum CodingKeys: String, CodingKey {
        case opID = "op_id"
        case phase, error
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(opID, forKey: .opID)
        try container.encode(phase, forKey: .phase)
        try container.encode(error, forKey: .error)
    }
}
