import DurableFiles
import Foundation

/// Backups as `tar | zstd` archives in a repository directory, one folder per guest.
///
/// The archive is written as `.partial`, fsynced, and renamed only once it is
/// whole and its manifest is on disk; a crash at any point leaves either a
/// complete backup or a `.partial` that ``removeLeftovers()`` deletes.
public struct DirectoryBackend: BackupBackend {
    public var layout: RepositoryLayout
    var pipeline = ArchivePipeline()

    public init(repository: String) {
        self.layout = RepositoryLayout(root: repository)
    }

    public func createBackup(
        _ job: BackupJob, progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws(BackupFailure) -> BackupArtifact {
        let dataBytes = try Self.measure(job.dataDirectory)
        progress(BackupProgress(bytesDone: 0, bytesTotal: dataBytes))

        let directory = layout.guestDirectory(job.guest)
        let partial = layout.partialArchive(guest: job.guest, backupID: job.backupID)
        let archive = layout.archive(guest: job.guest, backupID: job.backupID)
        let manifestPath = layout.manifest(guest: job.guest, backupID: job.backupID)
        do {
            // Archives hold customer data: only root may enter a guest's folder.
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw BackupFailure(.storage, "cannot create \(directory): \(error.localizedDescription)")
        }

        do throws(BackupFailure) {
            let entries: TarStreamReader.Entries
            do {
                entries = try await pipeline.archive(source: job.dataDirectory, to: partial) { done in
                    progress(BackupProgress(bytesDone: done, bytesTotal: dataBytes))
                }
            } catch let failure as ArchivePipeline.Failure {
                throw Self.classify(failure, repository: directory)
            } catch is CancellationError {
                throw BackupFailure(.cancelled, "the backup was cancelled")
            } catch let error as TarStreamError {
                throw BackupFailure(.toolFailed, "\(error)")
            } catch {
                if Task.isCancelled { throw BackupFailure(.cancelled, "the backup was cancelled") }
                throw BackupFailure(.toolFailed, "archiving \(job.dataDirectory): \(error)")
            }

            let archiveBytes = try Self.size(of: partial)
            let manifest = BackupManifest(
                backupID: job.backupID, guest: job.guest, createdAt: job.startedAt, files: entries.files,
                directories: entries.directories, symlinks: entries.symlinks, archiveBytes: archiveBytes)
            do {
                try DurableFile.sync(path: partial)
                try DurableFile.writeAtomically(try manifest.encoded(), to: manifestPath, mode: 0o600)
                try DurableFile.rename(partial, to: archive)
            } catch let error as DurableFileError {
                throw BackupFailure(error.isDiskFull ? .diskFull : .storage, "writing the backup to \(directory): \(error)")
            } catch {
                throw BackupFailure(.storage, "writing the manifest \(manifestPath): \(error)")
            }
            progress(BackupProgress(bytesDone: manifest.totalBytes, bytesTotal: dataBytes))
            return BackupArtifact(archivePath: archive, manifestPath: manifestPath, sizeBytes: archiveBytes, dataBytes: manifest.totalBytes)
        } catch {
            // Nothing of a failed backup may stay: not the partial archive, not the manifest.
            do {
                try discardBackup(guest: job.guest, backupID: job.backupID)
            } catch let cleanup {
                throw BackupFailure(error.code, "\(error.message); removing its files failed too (\(cleanup.message)); the next startup sweep removes them")
            }
            throw error
        }
    }

    public func discardBackup(guest: String, backupID: String) throws(BackupFailure) {
        for path in [
            layout.partialArchive(guest: guest, backupID: backupID),
            layout.archive(guest: guest, backupID: backupID),
            layout.manifest(guest: guest, backupID: backupID),
        ] {
            do {
                try DurableFile.remove(path)
            } catch {
                throw BackupFailure(.storage, "removing \(path): \(error)")
            }
        }
    }

    public func storedBackups() -> [StoredBackup] {
        guard let guests = try? FileManager.default.contentsOfDirectory(atPath: layout.root) else { return [] }
        var found: Set<StoredBackup> = []
        for guest in guests {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: layout.guestDirectory(guest)) else { continue }
            for name in names {
                for suffix in [RepositoryLayout.archiveSuffix, RepositoryLayout.manifestSuffix] where name.hasSuffix(suffix) {
                    found.insert(StoredBackup(guest: guest, backupID: String(name.dropLast(suffix.count))))
                }
            }
        }
        return found.sorted { ($0.guest, $0.backupID) < ($1.guest, $1.backupID) }
    }

    public func adoptable(_ stored: StoredBackup) -> AdoptableBackup? {
        let archive = layout.archive(guest: stored.guest, backupID: stored.backupID)
        let manifestPath = layout.manifest(guest: stored.guest, backupID: stored.backupID)
        guard let data = FileManager.default.contents(atPath: manifestPath),
              let manifest = try? BackupManifest.decode(data, path: manifestPath),
              manifest.backupID == stored.backupID, manifest.guest == stored.guest,
              let archiveBytes = try? Self.size(of: archive) else { return nil }
        return AdoptableBackup(
            artifact: BackupArtifact(archivePath: archive, manifestPath: manifestPath, sizeBytes: archiveBytes, dataBytes: manifest.totalBytes),
            createdAt: manifest.createdAt)
    }

    public func removeLeftovers() throws(BackupFailure) -> [String] {
        guard let guests = try? FileManager.default.contentsOfDirectory(atPath: layout.root) else { return [] }
        var removed: [String] = []
        for guest in guests {
            let directory = layout.guestDirectory(guest)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { continue }
            for name in names where name.hasSuffix(RepositoryLayout.partialSuffix) || name.contains(".tmp-") {
                let path = "\(directory)/\(name)"
                do {
                    try DurableFile.remove(path)
                } catch {
                    throw BackupFailure(.storage, "removing the leftover \(path): \(error)")
                }
                removed.append(path)
            }
        }
        return removed
    }

    /// The bytes of regular files under `directory`, so progress has a total.
    static func measure(_ directory: String) throws(BackupFailure) -> Int64 {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw BackupFailure(.dataDirectoryMissing, "the guest's data_dir \(directory) does not exist or is not a directory")
        }
        var total: Int64 = 0
        let keys: [URLResourceKey] = [.isRegularFileKey, .fileSizeKey]
        let enumerator = FileManager.default.enumerator(
            at: URL(fileURLWithPath: directory), includingPropertiesForKeys: keys, options: [])
        while let url = enumerator?.nextObject() as? URL {
            guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else { continue }
            total += Int64(values.fileSize ?? 0)
        }
        return total
    }

    static func size(of path: String) throws(BackupFailure) -> Int64 {
        do {
            let attributes = try FileManager.default.attributesOfItem(atPath: path)
            return (attributes[.size] as? NSNumber)?.int64Value ?? 0
        } catch {
            throw BackupFailure(.storage, "reading the size of \(path): \(error.localizedDescription)")
        }
    }

    /// zstd writing into a full file system is the common failure; say so plainly.
    static func classify(_ failure: ArchivePipeline.Failure, repository: String) -> BackupFailure {
        let stderr = failure.standardError.trimmingCharacters(in: .whitespacesAndNewlines)
        if stderr.localizedCaseInsensitiveContains("no space left") || stderr.localizedCaseInsensitiveContains("quota") {
            return BackupFailure(.diskFull, "the repository file system is full (\(repository)); the partial archive was removed and earlier backups are intact. Free space or lower retention.keep_last, then retry")
        }
        let status = failure.exitCode.map { "exit \($0)" } ?? "killed"
        return BackupFailure(.toolFailed, "\(failure.tool) failed (\(status)): \(stderr.isEmpty ? "no message" : stderr)")
    }
}
