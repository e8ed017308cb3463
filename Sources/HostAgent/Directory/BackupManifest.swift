import Foundation

/// What a backup archive holds, written beside it as `<backup_id>.manifest.json`.
///
/// Every regular file's path, size and SHA-256 comes from the archive stream
/// itself, so the manifest describes exactly what was archived even when the
/// data changed while tar read it.
public struct BackupManifest: Codable, Sendable, Equatable {
    /// One regular file: its path relative to the data dir, its size and its SHA-256 (hex).
    public struct File: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var sha256: String

        public init(path: String, size: Int64, sha256: String) {
            self.path = path
            self.size = size
            self.sha256 = sha256
        }
    }

    /// One symbolic link and what it points at.
    public struct Symlink: Codable, Sendable, Equatable {
        public var path: String
        public var target: String

        public init(path: String, target: String) {
            self.path = path
            self.target = target
        }
    }

    public static let currentFormat = 1

    public var format: Int
    public var backupID: String
    public var guest: String
    public var createdAt: Date
    public var files: [File]
    public var directories: [String]
    public var symlinks: [Symlink]
    public var totalFiles: Int
    public var totalBytes: Int64
    /// The size of the compressed archive.
    public var archiveBytes: Int64

    public init(
        backupID: String, guest: String, createdAt: Date, files: [File], directories: [String],
        symlinks: [Symlink], archiveBytes: Int64
    ) {
        self.format = Self.currentFormat
        self.backupID = backupID
        self.guest = guest
        self.createdAt = createdAt
        self.files = files.sorted { $0.path < $1.path }
        self.directories = directories.sorted()
        self.symlinks = symlinks.sorted { $0.path < $1.path }
        self.totalFiles = files.count
        self.totalBytes = files.reduce(0) { $0 + $1.size }
        self.archiveBytes = archiveBytes
    }

    enum CodingKeys: String, CodingKey {
        case format, guest, files, directories, symlinks
        case backupID = "backup_id"
        case createdAt = "created_at"
        case totalFiles = "total_files"
        case totalBytes = "total_bytes"
        case archiveBytes = "archive_bytes"
    }

    /// The canonical bytes: sorted keys, RFC 3339 dates.
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return Array(try encoder.encode(self))
    }

    /// Reads a manifest and checks that its totals agree with its entries.
    public static func decode(_ data: Data, path: String) throws(ManifestError) -> BackupManifest {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        let manifest: BackupManifest
        do {
            manifest = try decoder.decode(BackupManifest.self, from: data)
        } catch {
            throw ManifestError(path: path, problem: "is not a valid manifest: \(error)")
        }
        guard manifest.format == currentFormat else {
            throw ManifestError(path: path, problem: "has format \(manifest.format); this agent reads format \(currentFormat)")
        }
        guard manifest.totalFiles == manifest.files.count,
              manifest.totalBytes == manifest.files.reduce(0, { $0 + $1.size }) else {
            throw ManifestError(path: path, problem: "has totals that do not match its file list")
        }
        return manifest
    }
}

/// A manifest that cannot be trusted, or a tree that does not match one.
public struct ManifestError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var problem: String

    public var description: String { "\(path) \(problem)" }
}
