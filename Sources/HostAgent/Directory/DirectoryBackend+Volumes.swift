import Capture

/// ZFS and LVM thin snapshots for data dirs on such volumes: constant-time captures the window takes.
extension DirectoryBackend {
    enum VolumePreparation {
        /// The trial snapshot worked; the window takes the real one.
        case snapshot(VolumeCapture)
        /// No volume snapshot here: why, for the backup's record. The file system's method follows.
        case fallBack(String)
    }

    /// A volume snapshot for `job`, when the data dir is on a ZFS dataset or an LVM thin volume and
    /// a trial snapshot works; `nil` on other file systems. Only `capture: snapshot` makes a
    /// volume that cannot be snapshotted a failure; `auto` falls back.
    func prepareVolumeSnapshot(_ job: BackupJob, root: String, name: String) async throws(BackupFailure) -> VolumePreparation? {
        let required = job.capture == .snapshot
        let reason: String
        switch await VolumeSnapshot.detect(dataDirectory: job.dataDirectory, host: volumeHost) {
        case .plain:
            return nil
        case .unusable(let why):
            reason = why
        case .volume(let volume):
            do throws(CaptureError) {
                if let nested = try DataCapture.nestedMount(in: job.dataDirectory) {
                    reason = "the data dir holds another mount (\(nested)), which a snapshot of \(volume) leaves out"
                    break
                }
                try DataCapture.makeRoot(root)
            } catch {
                throw BackupFailure(.captureFailed, "\(error)")
            }
            let snapshot = VolumeSnapshot(volume: volume, captureName: name, captureRoot: root, host: volumeHost)
            do {
                try await snapshot.probe()
                return .snapshot(VolumeCapture(snapshot: snapshot))
            } catch {
                reason = "a trial snapshot of \(volume) failed: \(error)"
            }
        }
        if required {
            throw BackupFailure(.captureFailed, "capture: snapshot is not possible for this data dir: \(reason); use capture: auto")
        }
        return .fallBack(reason + ", so the file system's method was used")
    }
}
