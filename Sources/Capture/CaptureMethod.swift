import CFileSystem
#if canImport(Glibc)
import Glibc
#endif

/// How a guest's data dir is captured while its apps are stopped.
public enum CaptureMethod: String, Sendable, Equatable, CaseIterable {
    /// A read-only snapshot of the btrfs subvolume that is the data dir: constant time.
    case snapshot
    /// A reflink clone made while the apps run, and a delta pass that re-clones what changed.
    case reflink
    /// A staging copy made while the apps run, and a delta pass that copies what changed.
    case copy
    /// No capture: the apps stay down for the whole archive, as before.
    case off

    /// The method for a data dir on `filesystem`, as `capture: auto` picks it.
    public static func automatic(for filesystem: FileSystemKind, isSubvolume: Bool) -> CaptureMethod {
        switch filesystem {
        case .btrfs: isSubvolume ? .snapshot : .reflink
        case .xfs: .reflink  // with reflink=0 each clone is refused and copied instead; the report says so
        case .ext4, .zfs, .tmpfs, .other: .copy
        }
    }
}

/// The file system that holds a path, from `statfs`.
public enum FileSystemKind: Sendable, Equatable, CustomStringConvertible {
    case ext4, xfs, btrfs, zfs, tmpfs
    case other(Int)

    /// The file system holding `path`.
    public static func of(_ path: String) throws(CaptureError) -> FileSystemKind {
        let type = cfs_filesystem_type(path)
        guard type != -1 else { throw CaptureError(.sourceUnreadable, path: path, errno: errno, "statfs") }
        return switch UInt32(truncatingIfNeeded: type) {
        case 0xEF53: .ext4
        case 0x5846_5342: .xfs
        case 0x9123_683E: .btrfs
        case 0x2FC1_2FC1: .zfs
        case 0x0102_1994: .tmpfs
        default: .other(type)
        }
    }

    /// Whether `path` is the root of a btrfs subvolume: its inode is the first free object id, 256.
    public static func isBtrfsSubvolume(_ path: String) throws(CaptureError) -> Bool {
        guard try of(path) == .btrfs, let state = try FileState.of(path) else { return false }
        return state.kind == .directory && state.inode == 256
    }

    public var description: String {
        switch self {
        case .ext4: "ext4"
        case .xfs: "xfs"
        case .btrfs: "btrfs"
        case .zfs: "zfs"
        case .tmpfs: "tmpfs"
        case .other(let type): "0x" + String(type, radix: 16)
        }
    }
}
