import DurableFiles
import Foundation
import Logging
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Rolls a guest's data dir back to a backup, in an order a crash cannot break:
/// pre-flight (touches nothing), extract to a sibling staging dir and verify,
/// a `pre-rollback` backup of the current data, the journal, two renames, cleanup.
struct DirectoryRollback: Sendable {
    let layout: RepositoryLayout
    let logger: Logger
    /// Free space kept beyond the staged copy, so a rollback never fills the disk.
    var headroomBytes: Int64 = 64 << 20

    /// Why a rollback stopped; `touchedNothing` is true when the data dir was never at risk.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Checks everything that can be checked without touching the data.
    func preflight(guest: String, backupID: String, dataDirectory: String) throws -> BackupManifest {
        let manifest: BackupManifest
        do {
            manifest = try ArchiveRestorer(layout: layout).manifest(guest: guest, backupID: backupID)
        } catch {
            throw Failure(description: "backup \(backupID) cannot be restored: \(error)")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw Failure(description: "the guest's data_dir \(dataDirectory) does not exist")
        }
        let parent = (dataDirectory as NSString).deletingLastPathComponent
        let free = (try? FileManager.default.attributesOfFileSystem(forPath: parent)[.systemFreeSize] as? NSNumber)?.int64Value ?? 0
        let needed = manifest.totalBytes + headroomBytes
        guard free >= needed else {
            throw Failure(description: "not enough space beside \(dataDirectory) to stage the rollback: \(needed) bytes needed, \(free) free; nothing was changed")
        }
        return manifest
    }

    /// Runs pre-flight again, then every step after it. `preRollbackBackup` takes and records the escape-hatch backup.
    func run(
        opID: String, guest: String, backupID: String, dataDirectory: String,
        preRollbackBackup: () async throws -> BackupArtifact
    ) async throws {
        let manifest = try preflight(guest: guest, backupID: backupID, dataDirectory: dataDirectory)
        var journal = RollbackJournal(opID: opID, dataDirectory: dataDirectory)
        let manager = FileManager.default
        try? manager.removeItem(atPath: journal.staging)
        do {
            try manager.createDirectory(atPath: journal.staging, withIntermediateDirectories: false)
            try await extract(archive: layout.archive(guest: guest, backupID: backupID), into: journal.staging)
            let problems = try DataTree.read(journal.staging).differences(from: DataTree(manifest: manifest))
            guard problems.isEmpty else {
                throw Failure(description: "the extracted backup does not match its manifest: \(problems.prefix(5).joined(separator: "; "))")
            }
            _ = try await preRollbackBackup()
            // The last moment a cancel is honoured: past the journal the swap always finishes.
            try Task.checkCancellation()
        } catch {
            // Before the journal nothing destructive has happened: dropping staging is the whole undo.
            try? manager.removeItem(atPath: journal.staging)
            // A killed tar reports its own error; the cause was the cancel.
            throw Task.isCancelled ? CancellationError() : error
        }

        try journal.write()
        await Failpoint.reach("rollback.journal-written", logger: logger)
        try DurableFile.rename(dataDirectory, to: journal.old)
        await Failpoint.reach("rollback.between-renames", logger: logger)
        do {
            try DurableFile.rename(journal.staging, to: dataDirectory)
        } catch {
            // Put the original back now rather than leave the guest without a data dir until a restart.
            try DurableFile.rename(journal.old, to: dataDirectory)
            try journal.remove()
            throw error
        }
        // From here the restored tree is live and the rollback has succeeded; what follows is
        // cleanup, and a failure leaves it to the startup sweep rather than report a false failure.
        journal.step = .swapped
        do {
            try journal.write()
        } catch {
            // Without the step on disk the original must stay: a live tree alone would read as "never swapped".
            logger.error("recording the finished swap failed; the original stays beside the data dir until the next start", metadata: ["op_id": "\(opID)", "error": "\(error)"])
            return
        }
        await Failpoint.reach("rollback.before-cleanup", logger: logger)
        do {
            try manager.removeItem(atPath: journal.old)
            await Failpoint.reach("rollback.after-cleanup", logger: logger)
            try journal.remove()
        } catch {
            logger.error("removing the original after the swap failed; the next start finishes it", metadata: ["op_id": "\(opID)", "error": "\(error)"])
        }
    }

    private func extract(archive: String, into directory: String) async throws {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
        let result = try await Subprocess.run(
            .name("tar"),
            arguments: Arguments(ArchivePipeline.extractArguments(archive: archive, directory: directory)),
            platformOptions: options, input: .none, output: .discarded, error: .string(limit: 16 << 10)
        ) { _ in
            // tar keeps extracting while a crash test freezes the agent here and kills it.
            await Failpoint.reach("rollback.extracting", logger: logger)
        }
        guard case .exited(0) = result.terminationStatus else {
            throw Failure(description: "tar could not extract \(archive): \(result.standardError)")
        }
    }
}
