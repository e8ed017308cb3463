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
    /// The guest's Proxmox container id, for the Proxmox backend.
    public var vmid: Int?

    public init(backupID: String, guest: String, dataDirectory: String, startedAt: Date, capture: CaptureSetting = .auto, vmid: Int? = nil) {
        self.backupID = backupID
        self.guest = guest
        self.dataDirectory = dataDirectory
        self.startedAt = startedAt
        self.capture = capture
        self.vmid = vmid
    }

    /// A job for `guest`'s backup `backupID`.
    public init(backupID: String, guest: GuestRecord, startedAt: Date) {
        self.init(
            backupID: backupID, guest: guest.name, dataDirectory: guest.dataDirectory, startedAt: startedAt,
            capture: guest.capture, vmid: guest.vmid)
    }
}

/// What prepare made: a capture the window completes, or the reason there is none.
public protocol PreparedCapture: Sendable {
    var method: BackupCaptureMethod { get }
    /// Why the capture is slower than the file system could give, when it is; `nil` otherwise.
    var note: String? { get }
    /// Deletes the capture; safe to call more than once.
    func discard() async throws(BackupFailure)
}

/// What a backend reports while it takes a backup.
public enum BackupEvent: Sendable, Equatable {
    case progress(BackupProgress)
    /// The capture is complete, `windowMs` after the backup began: the guest may resume now.
    case snapshotted(windowMs: Int64)
    /// The backup waits for this before it can go on (another backup holds the node's lock); `nil` once it goes on.
    case waiting(String?)
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
    /// The backup finished while the agent was down: it is recorded done.
    case finished(BackupArtifact)
    /// The backup still runs outside the agent (a Proxmox task): ``BackupBackend/resumeBackup(_:events:)`` follows it.
    case stillRunning
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
        /// Another operation holds the guest (a Proxmox lock); nothing was started.
        case guestLocked = "guest_locked"
        /// The agent stopped while the backup went on outside it (a Proxmox task): the op stays in
        /// flight, and the next start follows it.
        case detached
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}

/// Where backups are taken, kept, rolled back to and restore-tested. The directory backend works
/// on any Linux host; a Proxmox backend will take whole-guest snapshots instead.
///
/// The routes, the journal and the coordinators talk to a backend only through this protocol:
/// they journal each op, and the backend does the work and its own crash recovery.
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
    func sweepCaptures(guests: [String: String], keeping: Set<String>) async -> CaptureSweep

    /// What becomes of a backup op a crash left in flight.
    func interruptedBackup(_ op: OpRecord) async -> InterruptedBackupDecision

    /// Follows a backup that ``interruptedBackup(_:)`` found still running, to its end.
    func resumeBackup(_ op: OpRecord, events: @escaping @Sendable (BackupEvent) -> Void) async throws(BackupFailure) -> BackupArtifact

    /// Deletes every file of one backup, finished or partial.
    func discardBackup(guest: String, backupID: String) async throws(BackupFailure)

    /// Deletes partial files a crash left behind and returns their paths.
    func removeLeftovers() async throws(BackupFailure) -> [String]

    /// Every backup that has a finished archive or a manifest in the repository.
    func storedBackups() async -> [StoredBackup]

    /// A stored backup whose archive and manifest are both whole and agree on who and what it is:
    /// what the journal needs to adopt it. `nil` for anything less.
    func adoptable(_ stored: StoredBackup) async -> AdoptableBackup?

    /// Whether a rollback of `guest` to its finished backup `backupID` would start now: the backup
    /// reads whole and there is room to stage it. Touches nothing.
    func rollbackPreflight(guest: GuestRecord, backupID: String) async throws(RollbackRefusal) -> RollbackPreflight

    /// Rolls `guest` back to `backupID`, in an order a crash cannot break. `preRollbackBackup` takes
    /// and records the escape-hatch backup; it runs before anything destructive. Task cancellation
    /// is honoured until the backend journals its destructive step; past that the rollback finishes.
    func rollback(
        opID: String, guest: GuestRecord, backupID: String, preRollbackBackup: () async throws -> BackupArtifact
    ) async throws

    /// At startup, before any op runs: finishes or undoes a rollback of `guest` that a crash
    /// interrupted, and removes its leftovers. `nil` when none was interrupted.
    func recoverRollback(guest: GuestRecord) async throws -> RecoveredRollback?

    /// Restores `backupID` of `guest` somewhere scratch, verifies it, runs the guest's probe on it,
    /// and removes the scratch copy whatever happened. Every failure is a failed check.
    func restoreTest(guest: GuestRecord, backupID: String, opID: String) async -> [RestoreTestCheck]

    /// At startup: removes what killed restore tests left (scratch copies, probe containers) and
    /// returns what it removed.
    func sweepRestoreTests() async -> [String]
}

/// Why a rollback will not start; nothing was touched.
public struct RollbackRefusal: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// What startup found of a rollback a crash interrupted, and what it made of it.
public struct RecoveredRollback: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        /// The destructive step had happened: the restored data stays.
        case completed
        /// The destructive step was half done: the original is back.
        case reverted
        /// The destructive step had not begun: the original never moved.
        case untouched
    }

    public var opID: String
    public var outcome: Outcome

    public init(opID: String, outcome: Outcome) {
        self.opID = opID
        self.outcome = outcome
    }
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
