import DurableFiles
import Foundation
import Synchronization

/// Compose's resolution of each stack directory, kept in `state_dir` and reused while the
/// stamps of every file that fed it are unchanged. An unchanged guest then lists without
/// running compose at all.
///
/// The file is a cache: a missing, unreadable or foreign one is simply rebuilt.
public struct ComposeResolutionCache: Sendable {
    /// One directory's resolution and what it was resolved from.
    public struct Entry: Codable, Sendable, Equatable {
        /// What the resolution was made from.
        public var inputs: ComposeInputs
        /// Compose's answer, or `nil` when it refused.
        public var project: ComposeProject?
        /// What compose said when it refused.
        public var error: ComposeFileError?
        /// A failure that may pass by itself (a timeout on a loaded machine) is tried again after this.
        public var retryAfter: Date?

        /// The entry as the resolver returns it.
        public var result: Result<ComposeProject, ComposeFileError> {
            if let project { return .success(project) }
            return .failure(error ?? ComposeFileError(path: "the cache", message: "an entry with neither a project nor an error"))
        }
    }

    private struct Contents: Codable {
        static let currentVersion = 1
        var version: Int
        var entries: [String: Entry]
    }

    /// The cache file, usually `state_dir/compose-cache.json`.
    public let path: String
    /// Writers in one process take turns: every write uses the same temporary file name.
    private static let writeLock = Mutex(())

    /// A cache at `path`; nothing is read or written until ``load()`` or ``save(_:)``.
    public init(path: String) {
        self.path = path
    }

    /// Every entry on disk, by stack directory; empty when there is no usable cache.
    public func load() -> [String: Entry] {
        guard let data = FileManager.default.contents(atPath: path),
              let contents = try? JSONDecoder().decode(Contents.self, from: data),
              contents.version == Contents.currentVersion else { return [:] }
        return contents.entries
    }

    /// Replaces the cache with `entries`. A failure costs only a slower next listing, so it is returned, not thrown.
    @discardableResult
    public func save(_ entries: [String: Entry]) -> DurableFileError? {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        guard let data = try? encoder.encode(Contents(version: Contents.currentVersion, entries: entries)) else { return nil }
        return Self.writeLock.withLock { _ -> DurableFileError? in
            let directory = (path as NSString).deletingLastPathComponent
            if mkdir(directory, 0o700) != 0, errno != EEXIST {
                return DurableFileError(operation: "mkdir", path: directory, errno: errno)
            }
            do throws(DurableFileError) {
                try DurableFile.writeAtomically(data, to: path, mode: 0o600)
                return nil
            } catch {
                return error
            }
        }
    }
}
