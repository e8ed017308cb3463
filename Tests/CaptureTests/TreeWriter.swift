import CFileSystem
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Changes to a test data dir, each the kind of thing an app or a careless writer does.
struct TreeWriter {
    let root: String

    func path(_ relative: String) -> String { root + "/" + relative }

    func write(_ relative: String, _ text: String) throws {
        let full = path(relative)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Through one descriptor, as an app rewrites in place: the inode stays.
        let descriptor = open(full, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw TreeError("open \(full): \(errno)") }
        defer { close(descriptor) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(descriptor, $0.baseAddress, bytes.count) }) == bytes.count else { throw TreeError("write \(full)") }
    }

    func mkdir(_ relative: String) throws {
        try FileManager.default.createDirectory(atPath: path(relative), withIntermediateDirectories: true)
    }

    func remove(_ relative: String) throws { try FileManager.default.removeItem(atPath: path(relative)) }

    func rename(_ from: String, _ to: String) throws {
        guard Glibc.rename(path(from), path(to)) == 0 else { throw TreeError("rename \(from) \(to): \(errno)") }
    }

    /// Swaps two names in one step each way, through a third name.
    func swap(_ a: String, _ b: String) throws {
        try rename(a, a + ".swap")
        try rename(b, a)
        try rename(a + ".swap", b)
    }

    func link(_ existing: String, _ new: String) throws {
        guard Glibc.link(path(existing), path(new)) == 0 else { throw TreeError("link: \(errno)") }
    }

    func symlink(_ target: String, _ relative: String) throws {
        guard Glibc.symlink(target, path(relative)) == 0 else { throw TreeError("symlink: \(errno)") }
    }

    func fifo(_ relative: String) throws {
        guard mkfifo(path(relative), 0o640) == 0 else { throw TreeError("mkfifo: \(errno)") }
    }

    func chmod(_ relative: String, _ mode: mode_t) throws {
        guard Glibc.chmod(path(relative), mode) == 0 else { throw TreeError("chmod: \(errno)") }
    }

    func chown(_ relative: String, _ uid: uid_t, _ gid: gid_t) throws {
        guard lchown(path(relative), uid, gid) == 0 else { throw TreeError("chown: \(errno)") }
    }

    func setxattr(_ relative: String, _ name: String, _ value: String) throws {
        let bytes = Array(value.utf8)
        guard cfs_lsetxattr(path(relative), name, bytes, bytes.count) == 0 else { throw TreeError("setxattr \(name): \(errno)") }
    }

    /// The file's mtime, to put back after a rewrite.
    func modified(_ relative: String) throws -> timespec {
        var info = stat()
        guard lstat(path(relative), &info) == 0 else { throw TreeError("lstat: \(errno)") }
        return info.st_mtim
    }

    func setModified(_ relative: String, _ time: timespec) throws {
        let times = [timespec(tv_sec: 0, tv_nsec: cfs_utime_omit()), time]
        guard utimensat(AT_FDCWD, path(relative), times, AT_SYMLINK_NOFOLLOW) == 0 else { throw TreeError("utimensat: \(errno)") }
    }

    /// A file of `size` bytes with data only at its start and its end.
    func sparse(_ relative: String, size: Int64) throws {
        let descriptor = open(path(relative), O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else { throw TreeError("open: \(errno)") }
        defer { close(descriptor) }
        let head = Array("head".utf8), tail = Array("tail".utf8)
        _ = head.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, head.count, 0) }
        _ = tail.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, tail.count, off_t(size) - off_t(tail.count)) }
    }
}

struct TreeError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
