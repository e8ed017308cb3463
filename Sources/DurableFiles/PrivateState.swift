#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// State only its own service may read: directories 0700, files 0600.
///
/// Creating with these modes is not enough: a state dir made by an older
/// release, by hand, or by a package manager may already be 0755, and SQLite
/// creates its files with the process's umask. So each start tightens what is
/// there and says what it changed, for the caller to log.
public enum PrivateState {
    /// One mode that was tightened, e.g. `/var/lib/felhom: 0755 → 0700`.
    public struct Change: Sendable, Equatable, CustomStringConvertible {
        public var path: String
        public var from: mode_t
        public var to: mode_t

        public var description: String { "\(path): \(Self.octal(from)) → \(Self.octal(to))" }

        static func octal(_ mode: mode_t) -> String {
            "0" + String(mode, radix: 8)
        }
    }

    /// Creates `directory` (and missing parents) as 0700, or tightens an existing one to 0700.
    public static func prepareDirectory(_ directory: String) throws(DurableFileError) -> [Change] {
        var status = stat()
        if stat(directory, &status) != 0 {
            guard errno == ENOENT else { throw DurableFileError(operation: "stat", path: directory, errno: errno) }
            let parent = parentDirectory(of: directory)
            if parent != directory, access(parent, F_OK) != 0 { try prepareParents(parent) }
            guard mkdir(directory, 0o700) == 0 || errno == EEXIST else {
                throw DurableFileError(operation: "mkdir", path: directory, errno: errno)
            }
            guard chmod(directory, 0o700) == 0 else { throw DurableFileError(operation: "chmod", path: directory, errno: errno) }
            return []
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw DurableFileError(operation: "use as a directory", path: directory, errno: ENOTDIR)
        }
        return try tighten(directory, status: status, to: 0o700).map { [$0] } ?? []
    }

    /// Makes a SQLite database's files 0600 before SQLite opens them: creates an
    /// empty database file as 0600 when there is none (SQLite gives its `-wal`
    /// and `-shm` files the database file's mode), and tightens existing ones.
    public static func prepareDatabaseFile(_ path: String) throws(DurableFileError) -> [Change] {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        if descriptor >= 0 {
            defer { close(descriptor) }
            guard fchmod(descriptor, 0o600) == 0 else { throw DurableFileError(operation: "chmod", path: path, errno: errno) }
        } else if errno != EEXIST {
            throw DurableFileError(operation: "create", path: path, errno: errno)
        }
        var changes: [Change] = []
        for file in [path, path + "-wal", path + "-shm"] {
            var status = stat()
            guard stat(file, &status) == 0 else { continue }
            if let change = try tighten(file, status: status, to: 0o600) { changes.append(change) }
        }
        return changes
    }

    /// Whether group or others may read or write the file at `path`, with its mode; `nil` when it cannot be read.
    public static func isReadableByOthers(_ path: String) -> (exposed: Bool, mode: String)? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        let permissions = status.st_mode & 0o7777
        return (permissions & 0o077 != 0, Change.octal(permissions))
    }

    private static func tighten(_ path: String, status: stat, to mode: mode_t) throws(DurableFileError) -> Change? {
        let current = status.st_mode & 0o7777
        guard current & ~mode != 0 else { return nil }
        let tightened = current & mode
        guard chmod(path, tightened) == 0 else { throw DurableFileError(operation: "chmod", path: path, errno: errno) }
        return Change(path: path, from: current, to: tightened)
    }

    /// Parents of a new state dir are ordinary directories (e.g. `/var/lib`); only the state dir itself is private.
    private static func prepareParents(_ directory: String) throws(DurableFileError) {
        let parent = parentDirectory(of: directory)
        if parent != directory, access(parent, F_OK) != 0 { try prepareParents(parent) }
        guard mkdir(directory, 0o755) == 0 || errno == EEXIST else {
            throw DurableFileError(operation: "mkdir", path: directory, errno: errno)
        }
    }

    private static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
