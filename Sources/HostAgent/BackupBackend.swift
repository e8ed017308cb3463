import Foundation

/// One backup for a backend to take: whose, of what, under which id.
public struct BackupJob: Sendable {
    public var backupID: String
    public var guest: String
    public var dataDirectory: String
    public var startedAt: Date

    public init(backupID: String, guest: String, dataDirectory: String, startedAt: Date) {
        self.backupID = backupID
        self.guest = guest
        self.dataDirectory = dataDirectory
        self.startedAt = startedAt
    }
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
public protocol BackupBackend: Sendable {
    /// Captures the job's data dir into a durable archive and manifest, reporting progress.
    /// On failure nothing of this backup is left in the repository.
    func createBackup(
        _ job: BackupJob, progress: @escaping @Sendable (BackupProgress) -> Void
    ) async throws(BackupFailure) -> BackupArtifact

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
