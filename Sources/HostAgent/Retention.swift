/// How many backups of a guest the agent keeps, per kind.
///
/// Escape-hatch backups (`pre-rollback`) have their own count: seven rollbacks
/// in a row once pushed every real backup out, the one rolled back to included.
public struct Retention: Sendable, Equatable {
    /// Scheduled and manual backups kept per guest; at least 1, so the last good backup stays.
    public var keepLast: Int
    /// `pre-rollback` backups kept per guest; they never count against `keepLast`.
    public var keepPreRollback: Int

    public init(keepLast: Int = 7, keepPreRollback: Int = 3) {
        precondition(keepLast >= 1 && keepPreRollback >= 1, "retention must keep at least one backup of each kind")
        self.keepLast = keepLast
        self.keepPreRollback = keepPreRollback
    }
}

/// Why a backup was taken, which decides its retention.
public enum BackupKind: String, Codable, Sendable, CaseIterable {
    /// Taken because the guest's interval came round.
    case scheduled
    /// Taken because an operator asked for it (`felhom-agent backup request`).
    case manual
    /// The agent's own copy of the data just before a rollback replaced it.
    case preRollback = "pre-rollback"
}
