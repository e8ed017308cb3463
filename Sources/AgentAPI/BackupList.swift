/// `GET /backups`: the caller's own guest's backups, newest first.
///
/// Only backups that are in flight or done are listed; a failed backup has no
/// archive to restore, so it appears in the agent's op journal instead.
public struct BackupList: Codable, Sendable, Equatable {
    public var backups: [BackupStatus]

    public init(backups: [BackupStatus]) {
        self.backups = backups
    }
}
