#if canImport(Glibc)
import Glibc
#endif

/// The mounts this process sees, from `/proc/self/mountinfo`: which file system and which
/// device hold a data dir, so prepare can tell a ZFS dataset or an LVM volume from a plain disk.
public struct MountTable: Sendable, Equatable {
    /// One line of mountinfo.
    public struct Entry: Sendable, Equatable {
        public var major: UInt32
        public var minor: UInt32
        /// The directory of the file system that is mounted here, e.g. `/` or `/srv/data` for a bind mount.
        public var root: String
        public var mountPoint: String
        public var fileSystemType: String
        /// The device or dataset, e.g. `/dev/mapper/pve-data`, or `tank/guests` on ZFS.
        public var source: String

        public init(major: UInt32, minor: UInt32, root: String, mountPoint: String, fileSystemType: String, source: String) {
            self.major = major
            self.minor = minor
            self.root = root
            self.mountPoint = mountPoint
            self.fileSystemType = fileSystemType
            self.source = source
        }
    }

    public var entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// The mounts of this process.
    public static func current() throws(CaptureError) -> MountTable {
        let path = "/proc/self/mountinfo"
        guard let file = fopen(path, "r") else { throw CaptureError(.sourceUnreadable, path: path, errno: errno, "fopen") }
        defer { fclose(file) }
        var text: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            text += buffer[..<count]
        }
        return parse(String(decoding: text, as: UTF8.self))
    }

    /// Reads mountinfo text; lines it cannot read are left out.
    ///
    /// A line reads `36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue`:
    /// ids, `major:minor`, root, mount point, options, optional fields up to `-`, type, source.
    public static func parse(_ text: String) -> MountTable {
        var entries: [Entry] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
            guard fields.count >= 10, let dash = fields.firstIndex(of: "-"), dash >= 6, fields.count >= dash + 3 else { continue }
            let device = fields[2].split(separator: ":")
            guard device.count == 2, let major = UInt32(device[0]), let minor = UInt32(device[1]) else { continue }
            entries.append(Entry(
                major: major, minor: minor, root: unescape(fields[3]), mountPoint: unescape(fields[4]),
                fileSystemType: fields[dash + 1], source: unescape(fields[dash + 2])))
        }
        return MountTable(entries: entries)
    }

    /// The mount that holds `path` (absolute, without `..`) on the device `device` (`st_dev`):
    /// of the mounts of that device, the one with the longest mount point above `path`.
    public func mount(holding path: String, device: UInt64) -> Entry? {
        let (major, minor) = Self.deviceNumbers(device)
        return entries
            .filter { $0.major == major && $0.minor == minor && Self.path(path, isBelow: $0.mountPoint) }
            .max { $0.mountPoint.count < $1.mountPoint.count }
    }

    /// `path` as the mounted file system names it: the mount's root joined with what lies below the mount point.
    public static func pathInFileSystem(_ path: String, mount: Entry) -> String {
        let below = mount.mountPoint == "/" ? path : String(path.dropFirst(mount.mountPoint.count))
        let root = mount.root == "/" ? "" : mount.root
        let joined = root + below
        return joined.isEmpty ? "/" : joined
    }

    static func path(_ path: String, isBelow mountPoint: String) -> Bool {
        mountPoint == "/" || path == mountPoint || path.hasPrefix(mountPoint + "/")
    }

    /// `st_dev` as the kernel's major and minor numbers, the way glibc's `major()` and `minor()` split it.
    public static func deviceNumbers(_ device: UInt64) -> (major: UInt32, minor: UInt32) {
        let major = ((device >> 8) & 0xfff) | ((device >> 32) & ~UInt64(0xfff))
        let minor = (device & 0xff) | ((device >> 12) & ~UInt64(0xff))
        return (UInt32(truncatingIfNeeded: major), UInt32(truncatingIfNeeded: minor))
    }

    /// mountinfo writes space, tab, newline and backslash as three octal digits after a backslash.
    static func unescape(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let raw = Array(field.utf8)
        var index = 0
        while index < raw.count {
            if raw[index] == UInt8(ascii: "\\"), index + 3 < raw.count,
               let value = UInt8(String(decoding: raw[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(raw[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
