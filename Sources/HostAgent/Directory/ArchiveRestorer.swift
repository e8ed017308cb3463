import Foundation
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// Extracts a directory-backend archive and proves the result matches its manifest.
public struct ArchiveRestorer: Sendable {
    public var layout: RepositoryLayout

    public init(layout: RepositoryLayout) {
        self.layout = layout
    }

    /// Reads the manifest of one backup and checks the archive is there with the size it records.
    public func manifest(guest: String, backupID: String) throws(ManifestError) -> BackupManifest {
        let path = layout.manifest(guest: guest, backupID: backupID)
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ManifestError(path: path, problem: "is missing")
        }
        let manifest = try BackupManifest.decode(data, path: path)
        let archive = layout.archive(guest: guest, backupID: backupID)
        let size = (try? FileManager.default.attributesOfItem(atPath: archive)[.size] as? NSNumber)?.int64Value
        guard size == manifest.archiveBytes else {
            throw ManifestError(path: archive, problem: size == nil ? "is missing" : "is \(size!) bytes; its manifest records \(manifest.archiveBytes)")
        }
        return manifest
    }

    /// Extracts the backup into `destination`, which must be empty or absent, and verifies
    /// every entry against the manifest. Returns the manifest it verified against.
    public func restore(guest: String, backupID: String, to destination: String) async throws -> BackupManifest {
        let manifest = try manifest(guest: guest, backupID: backupID)
        let manager = FileManager.default
        if let existing = try? manager.contentsOfDirectory(atPath: destination), !existing.isEmpty {
            throw RestoreError("\(destination) is not empty; restore only into an empty or new directory, so nothing there is overwritten")
        }
        try manager.createDirectory(atPath: destination, withIntermediateDirectories: true)

        let result = try await Subprocess.run(
            .name("tar"),
            arguments: Arguments(ArchivePipeline.extractArguments(archive: layout.archive(guest: guest, backupID: backupID), directory: destination)),
            output: .discarded,
            error: .string(limit: 16 << 10))
        guard case .exited(0) = result.terminationStatus else {
            throw RestoreError("tar could not extract \(backupID) into \(destination): \(result.standardError)")
        }
        let problems = try DataTree.read(destination).differences(from: DataTree(manifest: manifest))
        guard problems.isEmpty else {
            throw RestoreError("the extracted tree in \(destination) does not match the manifest of \(backupID): \(problems.prefix(5).joined(separator: "; "))")
        }
        return manifest
    }
}

/// A restore that did not happen, or did not verify.
public struct RestoreError: Error, Sendable, CustomStringConvertible {
    public var description: String

    public init(_ description: String) {
        self.description = description
    }
}
