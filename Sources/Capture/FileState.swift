#if canImport(Glibc)
import Glibc
#endif

/// What `lstat` says of one path: the fields that any change to the file touches.
///
/// `changedNs` (ctime) is the one a writer cannot set back: a rewrite that restores mtime,
/// a chmod, an xattr or a new hard link all move it. That is what makes a delta pass safe
/// where rsync's size-and-mtime quick check is not.
public struct FileState: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case regular, directory, symlink, fifo, characterDevice, blockDevice, socket
    }

    public var device: UInt64
    public var inode: UInt64
    /// Type and permission bits, as `st_mode`.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    /// The hard-link count.
    public var links: UInt64
    public var size: Int64
    /// mtime in nanoseconds since the epoch.
    public var modifiedNs: Int64
    /// ctime in nanoseconds since the epoch.
    public var changedNs: Int64
    /// The device number of a character or block device.
    public var rdev: UInt64

    /// The fields of a `stat` result.
    public init(_ info: stat) {
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        mode = UInt32(info.st_mode)
        uid = UInt32(info.st_uid)
        gid = UInt32(info.st_gid)
        links = UInt64(info.st_nlink)
        size = Int64(info.st_size)
        modifiedNs = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        changedNs = Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec)
        rdev = UInt64(info.st_rdev)
    }

    /// `lstat` of `path`; `nil` when nothing is there.
    public static func of(_ path: String) throws(CaptureError) -> FileState? {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw CaptureError(.sourceUnreadable, path: path, errno: errno, "lstat")
        }
        return FileState(info)
    }

    /// The node's type, from `mode`.
    public var kind: Kind {
        switch mode & 0o170000 {
        case 0o100000: .regular
        case 0o040000: .directory
        case 0o120000: .symlink
        case 0o010000: .fifo
        case 0o020000: .characterDevice
        case 0o060000: .blockDevice
        default: .socket
        }
    }

    /// The permission bits, with setuid, setgid and sticky.
    public var permissions: mode_t { mode_t(mode & 0o7777) }
}
