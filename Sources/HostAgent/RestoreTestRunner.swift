import AgentAPI
import Foundation
import Logging

/// Proves a guest's latest backup restores: journals a restore test op, lets the backend restore
/// the backup somewhere scratch and run the guest's probe, and records the checks. The backend
/// cleans up after itself every time; its ``BackupBackend/sweepRestoreTests()`` cleans up after a
/// run that was killed.
public struct RestoreTestRunner: Sendable {
    let store: AgentStore
    let backend: any BackupBackend
    let logger: Logger
    let now: @Sendable () -> Date

    public init(store: AgentStore, backend: any BackupBackend, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.backend = backend
        self.logger = logger
        self.now = now
    }

    /// Runs one restore test of `guest`'s latest successful backup and records it.
    public func run(guest: GuestRecord) async throws -> RestoreTestEntry {
        guard let latest = try store.listedBackups(guest: guest.name).first(where: { $0.op.state == .succeeded }) else {
            throw GuestError("guest \(guest.name) has no successful backup to test yet")
        }
        let opID = OpID.make(prefix: "t", at: now())
        try store.beginRestoreTest(guest: guest.name, backupID: latest.backupID, opID: opID, now: now())
        let metadata: Logger.Metadata = ["guest": "\(guest.name)", "op_id": "\(opID)", "backup_id": "\(latest.backupID)"]
        logger.info("restore test started", metadata: metadata)

        let checks = await backend.restoreTest(guest: guest, backupID: latest.backupID, opID: opID)
        let result: RestoreTestStatus.Result = !checks.isEmpty && checks.allSatisfy(\.ok) ? .passed : .failed
        try store.finishRestoreTest(opID, result: result, checks: checks, now: now())
        logger.info("restore test finished", metadata: metadata.merging(["result": "\(result.rawValue)"]) { $1 })
        guard let entry = try store.restoreTests(guest: guest.name).first(where: { $0.op.id == opID }) else {
            throw GuestError("restore test \(opID) of guest \(guest.name) finished, but its record is missing from the journal")
        }
        return entry
    }
}
