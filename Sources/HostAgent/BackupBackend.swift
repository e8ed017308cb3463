import AgentAPI
import Capture
import Foundation

/// One backup for a backend to take: whose, of what, under which id.
public struct BackupJob: Sendable {
    public var backupID: String
    public var guest: String
    public var dataDirectory: String
    public var startedAt: Date
    /// The guest's `capture` setting, for ``BackupBackend/prepareCapture(_:isCancelled:)``.
    public var capture: CaptureSetting

    public init(backupID: String, guest: String, dataDirectory: String, startedAt: Date, capture: CaptureSetting = .auto) {
        self.backupID = backupID
        self.guest = guest
        self.dataDirectory = dataDirectory
        self.startedAt = startedAt
        self.capture = capture
    }
}

/// What prepare made: a capture the window completes, or the reason there is none.
public protocol PreparedCapture: Sendable {
    var method: BackupCaptureMethod { get }
    /// Why the capture is slower than the file system could give, when it is; `nil` otherwise.
    var note: String? { get }
    /// Deletes the capture; safe to call more than once.
    func discard() throws(BackupFailure)
}

/// What a backend reports while it takes a backup.
public enum BackupEvent: Sendable, Equatable {
    case progress(BackupProgress)
    /// The capture is complete, `windowMs` after the backup began: the guest may resume now.
    case snapshotted(windowMs: Int64)
}

/// What a sweep of leftover captures did.
public struct CaptureSweep: Sendable, Equatable {
    public var removed: [String] = []
    /// One line per capture that would not go: its path, the error, and how to remove it by hand.
    public var failures: [String] = []

    public init() {}
}

/// What startup does with a backup op a crash interrupted.
public enum InterruptedBackupDecision: Sendable, Equatable {
    /// The op fails with this reason, and every file of it goes.
    case fail(String)
}

/// How far a running backup has got.
public struct BackupProgress: Sendable, Equatable {
    public var bytesDone: Int64
    /// `nil` until the backend has measured the data.
    public var bytesTotal: Int64?
}

/// A finished backup's files.
public struct BackupArtifact: Sendable, Equatable {
    public var archivePath: String
    public var manifestPath: String
    /// The archive's size on disk.
    public var sizeBytes: Int64
    /// The data it holds, before compression.
    public var dataBytes: Int64
}

/// Why a backup could not be taken; the partial archive is already gone.
public struct BackupFailure: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case diskFull = "disk_full"
        case dataDirectoryMissing = "data_dir_missing"
        case toolFailed = "tool_failed"
        case cancelled
        case storage
        /// Prepare found too little free space for a capture; nothing was stopped.
        case noSpaceForCapture = "no_space_for_capture"
        /// Prepare could not make the capture for another reason.
        case captureFailed = "capture_failed"
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Where backups are taken and kept. The directory backend works on any Linux host;
/// a Proxmox backend will take snapshots instead.
///
/// The routes, the journal and the coordinators talk to a backend only through this protocol.
public protocol BackupBackend: Sendable {
    /// Makes, while the apps still run, what the backup's short window completes; `nil` when the
    /// job's capture setting is `off`. Never stops anything. A failed prepare leaves nothing behind.
    /// `isCancelled` turns true when the prepare is no longer wanted; a long copy checks it.
    func prepareCapture(_ job: BackupJob, isCancelled: @escaping @Sendable () -> Bool) async throws(BackupFailure) -> (any PreparedCapture)?

    /// Takes the backup: completes `capture` (the apps are stopped now) and reports `snapshotted`,
    /// then archives from it; without a capture, archives the live data dir. Writes a durable
    /// archive and manifest, reporting progress. On failure nothing of this backup is left in the
    /// repository. The capture is the caller's to discard.
    func createBackup(
        _ job: BackupJob, capture: (any PreparedCapture)?, events: @escaping @Sendable (BackupEvent) -> Void
    ) async throws(BackupFailure) -> BackupArtifact

    /// Deletes the captures of `guests` (name → data dir) that are not in `keeping` (backup ids).
    func sweepCaptures(guests: [String: String], keeping: Set<String>) -> CaptureSweep

    /// What becomes of a backup op a crash left in flight.
    func interruptedBackup(_ op: OpRecord) -> InterruptedBackupDecision

    /// Deletes every file of one backup, finished or partial.
    func discardBackup(guest: String, backupID: String) throws(BackupFailure)

    /// Deletes partial files a crash left behind and returns their paths.
    func removeLeftovers() throws(BackupFailure) -> [String]

    /// Every backup that has a finished archive or a manifest in the repository.
    func storedBackups() -> [StoredBackup]

    /// A stored backup whose archive and manifest are both whole and agree on who and what it is:
    /// what the journal needs to adopt it. `nil` for anything less.
    func adoptable(_ stored: StoredBackup) -> AdoptableBackup?
}

/// A finished backup found in the repository, as its own manifest describes it.
public struct AdoptableBackup: Sendable, Equatable {
    public var artifact: BackupArtifact
    /// When the backup was taken, from its manifest.
    public var createdAt: Date
}

/// A backup's files found in the repository, whether or not the journal knows them.
public struct StoredBackup: Sendable, Hashable, CustomStringConvertible {
    public var guest: String
    public var backupID: String

    public init(guest: String, backupID: String) {
        self.guest = guest
        self.backupID = backupID
    }

    public var description: String { "\(guest)/\(backupID)" }
}
