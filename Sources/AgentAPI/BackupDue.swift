import Foundation

/// `GET /backup/due`: whether the caller's guest should be backed up now.
public struct BackupDue: Codable, Sendable, Equatable {
    /// Why a backup is due.
    public enum Reason: String, Codable, Sendable {
        case neverBackedUp = "never_backed_up"
        case schedule
        case requested
    }

    public var due: Bool
    /// `nil` when the backup is not due.
    public var reason: Reason?
    public var nextDueAt: Date?
    public var lastBackupAt: Date?

    public init(due: Bool, reason: Reason?, nextDueAt: Date?, lastBackupAt: Date?) {
        self.due = due
        self.reason = reason
        self.nextDueAt = nextDueAt
        self.lastBackupAt = lastBackupAt
    }

    enum CodingKeys: String, CodingKey {
        case due, reason
        case nextDueAt = "next_due_at"
        case lastBackupAt = "last_backup_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(due, forKey: .due)
        try container.encode(reason, forKey: .reason)
        try container.encode(nextDueAt, forKey: .nextDueAt)
        try container.encode(lastBackupAt, forKey: .lastBackupAt)
    }
}
