import AgentAPI
import Foundation

/// Rollbacks and restore tests of the directory backend: a data dir swapped for an extracted
/// archive, and an archive extracted into scratch with the guest's probe run on it.
extension DirectoryBackend {
    var directoryRollback: DirectoryRollback { DirectoryRollback(layout: layout, logger: logger) }

    public func rollbackPreflight(guest: GuestRecord, backupID: String) async throws(RollbackRefusal) -> RollbackPreflight {
        do {
            let manifest = try directoryRollback.preflight(guest: guest.name, backupID: backupID, dataDirectory: guest.dataDirectory)
            return RollbackPreflight(backupID: backupID, dataBytes: manifest.totalBytes)
        } catch {
            throw RollbackRefusal("\(error)")
        }
    }

    public func rollback(
        opID: String, guest: GuestRecord, backupID: String, preRollbackBackup: () async throws -> BackupArtifact
    ) async throws {
        try await directoryRollback.run(
            opID: opID, guest: guest.name, backupID: backupID, dataDirectory: guest.dataDirectory,
            preRollbackBackup: preRollbackBackup)
    }

    public func recoverRollback(guest: GuestRecord) async throws -> RecoveredRollback? {
        try RollbackRecovery(logger: logger).sweep(dataDirectory: guest.dataDirectory)
    }

    public func restoreTest(guest: GuestRecord, backupID: String, opID: String) async -> [RestoreTestCheck] {
        await restoreTests.run(guest: guest, backupID: backupID, opID: opID)
    }

    public func sweepRestoreTests() async -> [String] {
        await restoreTests.sweep()
    }
}
