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
    let backend: DirectoryBackend
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
            manifest = try ArchiveRestorer(layout: backend.layout).manifest(guest: guest, backupID: backupID)
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

    /// Runs every step after pre-flight. `preRollbackBackup` takes and records the escape-hatch backup.
    func run(
        opID: String, guest: String, backupID: String, dataDirectory: String, manifest: BackupManifest,
        preRollbackBackup: () async throws -> Void
    ) async throws {
        var journal = RollbackJournal(opID: opID, dataDirectory: dataDirectory)
        let manager = FileManager.default
        try? manager.removeItem(atPath: journal.staging)
        do {
            try manager.createDirectory(atPath: journal.staging, withIntermediateDirectories: false)
            try await extract(archive: backend.layout.archive(guest: guest, backupID: backupID), into: journal.staging)
            let problems = try DataTree.read(journal.staging).differences(from: DataTree(manifest: manifest))
            guard problems.isEmpty else {
                throw Failure(description: "the extracted backup does not match its manifest: \(problems.prefix(5).joined(separator: "; "))")
            }
            try await preRollbackBackup()
        } catch {
            // Before the journal nothing destructive has happened: dropping staging is the whole undo.
            try? manager.removeItem(atPath: journal.staging)
            throw error
        }

        try journal.write()
        await Failpoint.reach("rollback.journal-written", logger: logger)
        try DurableFile.rename(dataDirectory, to: journal.old)
        await Failpoint.reach("rollback.between-renames", logger: logger)
        try DurableFile.rename(journal.staging, to: dataDirectory)
        journal.step = .swapped
        try journal.write()
        await Failpoint.reach("rollback.before-cleanup", logger: logger)
        try manager.removeItem(atPath: journal.old)
        await Failpoint.reach("rollback.after-cleanup", logger: logger)
        try journal.remove()
    }

    private func extract(archive: String, into directory: String) async throws {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
        let result = try await Subprocess.run(
            .name("tar"),
            arguments: ["--extract", "--zstd", "--file=\(archive)", "--directory=\(directory)", "--numeric-owner"],
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
