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
        public var inputs: ComposeInputs
        public var project: ComposeProject?
        public var error: ComposeFileError?
        /// A failure that may pass by itself (a timeout on a loaded machine) is tried again after this.
        public var retryAfter: Date?

        public var result: Result<ComposeProject, ComposeFileError> {
            if let project { return .success(project) }
            return .failure(error ?? ComposeFileError(path: "", message: "no resolution recorded"))
        }
    }

    private struct Contents: Codable {
        static let currentVersion = 1
        var version: Int
        var entries: [String: Entry]
    }

    public let path: String
    /// Writers in one process take turns: every write uses the same temporary file name.
    private static let writeLock = Mutex(())

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
