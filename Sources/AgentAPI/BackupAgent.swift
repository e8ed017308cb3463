/// The host agent as the controller sees it: the seam around the HTTPS calls.
///
/// ``AgentClient`` is the real implementation; tests substitute their own.
public protocol BackupAgent: Sendable {
    /// `GET /backup/due`.
    func backupDue() async throws(AgentClientError) -> BackupDue
    /// `POST /backup/prepare`: make the capture while the apps run. `created` is false when
    /// `idempotencyKey` named a prepare already started.
    func prepareBackup(idempotencyKey: String) async throws(AgentClientError) -> (response: StartBackupResponse, created: Bool)
    /// `POST /backup`. `created` is false when `idempotencyKey` named a backup already started.
    func startBackup(
        idempotencyKey: String, _ request: StartBackupRequest
    ) async throws(AgentClientError) -> (response: StartBackupResponse, created: Bool)
    /// `GET /backup/status`, for one backup or, with `nil`, the guest's latest.
    func backupStatus(backupID: String?) async throws(AgentClientError) -> BackupStatus
    /// `POST /backup/resumed`: the guest resumed before the backup captured its data.
    func backupResumed(backupID: String) async throws(AgentClientError) -> BackupStatus
    /// `GET /backups`.
    func backups() async throws(AgentClientError) -> [BackupStatus]
    /// `GET /rollback/preflight`: whether a rollback to `backupID` would start now. Touches nothing.
    func rollbackPreflight(backupID: String) async throws(AgentClientError) -> RollbackPreflight
    /// `POST /rollback`: restore the guest's data dir to one of its backups. The same
    /// `idempotencyKey` always names the same op, so a lost answer can be asked for again.
    func startRollback(backupID: String, idempotencyKey: String?) async throws(AgentClientError) -> RollbackStarted
    /// `GET /rollback/status`.
    func rollbackStatus(opID: String) async throws(AgentClientError) -> RollbackStatus
    /// `GET /rollback/status` without an id: the guest's newest rollback op, `nil` when it has none.
    func latestRollbackStatus() async throws(AgentClientError) -> RollbackStatus?
    /// `POST /rollback/cancel`: stop the op before its destructive phase; answers the op's state now.
    func cancelRollback(opID: String) async throws(AgentClientError) -> RollbackStatus
    /// `GET /restore-test/status`: the agent's latest restore test of the guest.
    func restoreTestStatus() async throws(AgentClientError) -> RestoreTestStatus
}

extension BackupAgent {
    /// `POST /rollback` without an idempotency key.
    public func startRollback(backupID: String) async throws(AgentClientError) -> RollbackStarted {
        try await startRollback(backupID: backupID, idempotencyKey: nil)
    }
}
