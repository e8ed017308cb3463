import Foundation

/// One check of a restore test: the manifest, or a probe's log pattern.
public struct RestoreTestCheck: Codable, Sendable, Equatable {
    public var name: String
    public var ok: Bool
    public var detail: String

    public init(name: String, ok: Bool, detail: String) {
        self.name = name
        self.ok = ok
        self.detail = detail
    }
}

/// `GET /restore-test/status`: the caller's latest restore test, and when the next is due.
public struct RestoreTestStatus: Codable, Sendable, Equatable {
    public enum Result: String, Codable, Sendable {
        case passed, failed
    }

    /// `nil` until the guest's first restore test has run.
    public var backupID: String?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var result: Result?
    public var checks: [RestoreTestCheck]
    public var nextDueAt: Date?

    public init(backupID: String?, startedAt: Date?, finishedAt: Date?, result: Result?, checks: [RestoreTestCheck], nextDueAt: Date?) {
        self.backupID = backupID
        self.startedAt = startedAt
        self.finishedAt = finishedAt
        self.result = result
        self.checks = checks
        self.nextDueAt = nextDueAt
    }

    enum CodingKeys: String, CodingKey {
        case result, checks
        case backupID = "backup_id"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case nextDueAt = "next_due_at"
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(backupID, forKey: .backupID)
        try container.encode(startedAt, forKey: .startedAt)
        try container.encode(finishedAt, forKey: .finishedAt)
        try container.encode(result, forKey: .result)
        try container.encode(checks, forKey: .checks)
        try container.encode(nextDueAt, forKey: .nextDueAt)
    }
}
