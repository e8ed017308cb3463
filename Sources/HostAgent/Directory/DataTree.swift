import Crypto
import Foundation

/// A directory's contents in manifest terms: files with sizes and SHA-256, directories, symlinks.
///
/// Restores are checked by reading the restored tree back and comparing it
/// with the manifest, entry by entry.
public struct DataTree: Sendable, Equatable {
    public var files: [String: BackupManifest.File] = [:]
    public var directories: Set<String> = []
    public var symlinks: [String: String] = [:]

    /// Reads and hashes everything under `root`.
    public static func read(_ root: String) throws -> DataTree {
        var tree = DataTree()
        let manager = FileManager.default
        guard let enumerator = manager.enumerator(atPath: root) else {
            throw ManifestError(path: root, problem: "cannot be read")
        }
        while let relative = enumerator.nextObject() as? String {
            let path = "\(root)/\(relative)"
            let attributes = try manager.attributesOfItem(atPath: path)
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory?:
                tree.directories.insert(relative)
            case .typeSymbolicLink?:
                tree.symlinks[relative] = try manager.destinationOfSymbolicLink(atPath: path)
            case .typeRegular?:
                let size = (attributes[.size] as? NSNumber)?.int64Value ?? 0
                tree.files[relative] = BackupManifest.File(path: relative, size: size, sha256: try sha256(ofFile: path))
            default:
                continue
            }
        }
        return tree
    }

    /// The tree a manifest promises.
    public init(manifest: BackupManifest) {
        for file in manifest.files { files[file.path] = file }
        directories = Set(manifest.directories)
        for link in manifest.symlinks { symlinks[link.path] = link.target }
    }

    public init() {}

    /// Every way `self` differs from `expected`, one line each; empty when they match.
    public func differences(from expected: DataTree) -> [String] {
        var problems: [String] = []
        for (path, file) in expected.files.sorted(by: { $0.key < $1.key }) {
            guard let actual = files[path] else { problems.append("missing file \(path)"); continue }
            if actual.size != file.size {
                problems.append("\(path): size \(actual.size), expected \(file.size)")
            } else if actual.sha256 != file.sha256 {
                problems.append("\(path): sha256 \(actual.sha256), expected \(file.sha256)")
            }
        }
        for path in files.keys.sorted() where expected.files[path] == nil {
            problems.append("unexpected file \(path)")
        }
        for path in expected.directories.subtracting(directories).sorted() { problems.append("missing directory \(path)") }
        for path in directories.subtracting(expected.directories).sorted() { problems.append("unexpected directory \(path)") }
        for (path, target) in expected.symlinks.sorted(by: { $0.key < $1.key }) where symlinks[path] != target {
            problems.append("symlink \(path) -> \(symlinks[path] ?? "(missing)"), expected -> \(target)")
        }
        for path in symlinks.keys.sorted() where expected.symlinks[path] == nil {
            problems.append("unexpected symlink \(path)")
        }
        return problems
    }

    static func sha256(ofFile path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ManifestError(path: path, problem: "cannot be opened for reading")
        }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
            hasher.update(data: chunk)
        }
        return hexString(hasher.finalize())
    }
}
