import AgentAPI
import Capture
import DurableFiles
import Foundation
import Logging

/// Backups as `tar | zstd` archives in a repository directory, one folder per guest.
///
/// The archive is written as `.partial`, fsynced, and renamed only once it is
/// whole and its manifest is on disk; a crash at any point leaves either a
/// complete backup or a `.partial` that ``removeLeftovers()`` deletes.
public struct DirectoryBackend: BackupBackend {
    public var layout: RepositoryLayout
    var pipeline = ArchivePipeline()
    let restoreTests: DirectoryRestoreTest
    /// The mount table and the ZFS and LVM tools, for data dirs on a volume that snapshots.
    let volumeHost: any VolumeHost
    let logger: Logger

    /// - Parameters:
    ///   - repository: where the archives and manifests go.
    ///   - stateDirectory: the agent's state dir; restore tests extract into scratch dirs below it.
    public init(repository: String, stateDirectory: String, volumeHost: any VolumeHost = SystemVolumeHost(), logger: Logger? = nil) {
        let logger = logger ?? .agentDefault
        self.layout = RepositoryLayout(root: repository)
        self.restoreTests = DirectoryRestoreTest(layout: layout, stateDirectory: stateDirectory, logger: logger)
        self.volumeHost = volumeHost
        self.logger = logger
    }

    /// A capture beside the data dir: a btrfs snapshot, a reflink clone or a staging copy.
    struct DirectoryCapture: PreparedCapture {
        let data: DataCapture
        let note: String?

        var method: BackupCaptureMethod {
            switch data.method {
            case .snapshot: .snapshot
            case .reflink: .reflink
            case .copy: .copy
            case .off: .none
            }
        }

        func discard() async throws(BackupFailure) {
            do {
                try data.remove()
            } catch {
                throw BackupFailure(.storage, "removing the capture \(data.path): \(error)")
            }
        }
    }

    /// A ZFS or LVM thin snapshot of the volume under the data dir, taken in the window.
    struct VolumeCapture: PreparedCapture {
        let snapshot: VolumeSnapshot
        var method: BackupCaptureMethod { .snapshot }
        var note: String? { nil }

        func discard() async throws(BackupFailure) {
            do {
                try await snapshot.remove()
            } catch {
                throw BackupFailure(.storage, "removing the snapshot \(snapshot.name) of \(snapshot.volume): \(error)")
            }
        }
    }

    /// `<backup id>.<guest>`: unique, and the guest it belongs to is in the name for the sweep.
    static func captureName(guest: String, backupID: String) -> String { "\(backupID).\(guest)" }

    public func prepareCapture(_ job: BackupJob, isCancelled: @escaping @Sendable () -> Bool) async throws(BackupFailure) -> (any PreparedCapture)? {
        let root = DataCapture.defaultRoot(for: job.dataDirectory)
        let name = Self.captureName(guest: job.guest, backupID: job.backupID)
        var volumeNote: String?
        if job.capture == .auto || job.capture == .snapshot {
            switch try await prepareVolumeSnapshot(job, root: root, name: name) {
            case .snapshot(let capture): return capture
            case .fallBack(let why): volumeNote = why
            case .none: break
            }
        }
        do throws(CaptureError) {
            let made = try await BlockingWork.run { () throws(CaptureError) -> (DataCapture, DataCapture.PrepareReport)? in
                try DataCapture.prepare(source: job.dataDirectory, root: root, name: name, setting: job.capture, isCancelled: isCancelled)
            }
            return made.map { made in
                let notes = [volumeNote, made.1.note].compactMap { $0 }
                return DirectoryCapture(data: made.0, note: notes.isEmpty ? nil : notes.joined(separator: "; "))
            }
        } catch {
            if error.code == .sourceUnreadable, (try? FileState.of(job.dataDirectory)) == nil {
                throw BackupFailure(.dataDirectoryMissing, "the guest's data_dir \(job.dataDirectory) does not exist or is not a directory")
            }
            if error.code == .cancelled { throw BackupFailure(.cancelled, "the prepare was superseded or the agent stopped") }
            throw BackupFailure(error.isDiskFull ? .noSpaceForCapture : .captureFailed, "\(error)")
        }
    }

    public func sweepCaptures(guests: [String: String], keeping: Set<String>) async -> CaptureSweep {
        var sweep = CaptureSweep()
        let keptNames = Set(guests.keys.flatMap { guest in keeping.map { Self.captureName(guest: guest, backupID: $0) } })
        for (guest, dataDirectory) in guests {
            let root = DataCapture.defaultRoot(for: dataDirectory)
            // First: an LVM snapshot is mounted in the capture folder, whose directory sweep must find it gone.
            if case .volume(let volume) = await VolumeSnapshot.detect(dataDirectory: dataDirectory, host: volumeHost) {
                let swept = await VolumeSnapshot.sweep(volume, guest: guest, keeping: keptNames, captureRoot: root, host: volumeHost)
                sweep.removed += swept.removed
                sweep.failures += swept.failures
            }
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: root) else { continue }
            // `felhom-…` names are mounted volume snapshots, the volume sweep's above.
            for name in names where name.hasSuffix(".\(guest)") && !name.hasPrefix(VolumeSnapshot.prefix) && !keptNames.contains(name) {
                do {
                    try DataCapture.sweep(root: root, only: name)
                    sweep.removed.append(root + "/" + name)
                } catch {
                    sweep.failures.append("\(error); remove \(root)/\(name) by hand (`btrfs subvolume delete` for a snapshot, `rm -rf` otherwise)")
                }
            }
        }
        return sweep
    }

    public func interruptedBackup(_ op: OpRecord) async -> InterruptedBackupDecision {
        // A partial archive cannot be resumed, and a capture is never trusted after a crash.
        .fail("agent restarted during backup")
    }

    public func resumeBackup(_ op: OpRecord, events: @escaping @Sendable (BackupEvent) -> Void) async throws(BackupFailure) -> BackupArtifact {
        throw BackupFailure(.toolFailed, "a directory backup cannot be resumed after a restart")
    }

    public func createBackup(
        _ job: BackupJob, capture: (any PreparedCapture)?, events: @escaping @Sendable (BackupEvent) -> Void
    ) async throws(BackupFailure) -> BackupArtifact {
        var source = job.dataDirectory
        if let capture = capture as? DirectoryCapture {
            try await completeWindow(events: events) { () throws(BackupFailure) in
                do throws(CaptureError) {
                    _ = try await BlockingWork.run { () throws(CaptureError) -> DataCapture.WindowReport in try capture.data.window() }
                } catch {
                    throw BackupFailure(error.isDiskFull ? .diskFull : .captureFailed, "completing the capture while the apps were stopped: \(error)")
                }
            }
            source = capture.data.path
        } else if let capture = capture as? VolumeCapture {
            try await completeWindow(events: events) { () throws(BackupFailure) in
                do {
                    try await capture.snapshot.take()
                } catch {
                    throw BackupFailure(.captureFailed, "snapshotting \(capture.snapshot.volume) while the apps were stopped: \(error)")
                }
            }
            do {
                source = try await capture.snapshot.readablePath()
            } catch {
                throw BackupFailure(.captureFailed, "reading the snapshot \(capture.snapshot.name) of \(capture.snapshot.volume): \(error)")
            }
        }
        let progress: @Sendable (BackupProgress) -> Void = { events(.progress($0)) }
        let dataBytes = try Self.measure(source)
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
                entries = try await pipeline.archive(source: source, to: partial, background: capture != nil) { done in
                    if done > 0 { Failpoint.reachBlocking("backup.archiving") }
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
                try await discardBackup(guest: job.guest, backupID: job.backupID)
            } catch let cleanup {
                throw BackupFailure(error.code, "\(error.message); removing its files failed too (\(cleanup.message)); the next startup sweep removes them")
            }
            throw error
        }
    }

    /// Runs the window's step, then reports `snapshotted` with how long the step took.
    private func completeWindow(
        events: @Sendable (BackupEvent) -> Void, _ step: () async throws(BackupFailure) -> Void
    ) async throws(BackupFailure) {
        let started = ContinuousClock.now
        await Failpoint.reach("backup.window", logger: .agentDefault)
        try await step()
        let elapsed = started.duration(to: .now)
        events(.snapshotted(windowMs: BackupCoordinator.milliseconds(elapsed)))
        await Failpoint.reach("backup.snapshotted", logger: .agentDefault)
    }

    public func discardBackup(guest: String, backupID: String) async throws(BackupFailure) {
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

    public func storedBackups() async -> [StoredBackup] {
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

    public func adoptable(_ stored: StoredBackup) async -> AdoptableBackup? {
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

    public func removeLeftovers() async throws(BackupFailure) -> [String] {
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
