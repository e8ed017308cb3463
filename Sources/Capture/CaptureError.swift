#if canImport(Glibc)
import Glibc
#endif

/// A capture that could not be made: which step, on which path, and the system's reason.
public struct CaptureError: Error, Sendable, Equatable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private let name: String
        /// The data dir, or something in it, could not be read.
        public static let sourceUnreadable = Code(name: "source_unreadable")
        /// The staging copy could not be written; `isDiskFull` says whether space ran out.
        public static let stagingUnwritable = Code(name: "staging_unwritable")
        /// The staging directory is not where a capture may be made (inside the data dir, or not empty).
        public static let badStaging = Code(name: "bad_staging")
        /// A delta pass was asked for before the first full pass.
        public static let notPrepared = Code(name: "not_prepared")

        /// Not enough free space for the capture; nothing was copied.
        public static let noSpace = Code(name: "no_space")
        /// The pass was stopped because the capture is no longer wanted.
        public static let cancelled = Code(name: "cancelled")
        /// A btrfs snapshot could not be made or deleted.
        public static let snapshotFailed = Code(name: "snapshot_failed")
        /// The method asked for cannot work on this data dir.
        public static let unsupported = Code(name: "unsupported")

        public var description: String { name }
    }

    public var code: Code
    public var path: String
    public var errno: Int32
    /// The call or step that failed.
    public var operation: String

    public init(_ code: Code, path: String, errno: Int32 = 0, _ operation: String) {
        self.code = code
        self.path = path
        self.errno = errno
        self.operation = operation
    }

    public var isDiskFull: Bool { code == .noSpace || errno == ENOSPC || errno == EDQUOT }

    public var description: String {
        let reason = errno == 0 ? "" : ": " + String(cString: strerror(errno))
        let advice = switch code {
        case .stagingUnwritable where isDiskFull: "; free space beside the data dir, or `felhom-agent guest capture NAME off`, which keeps the apps down for the whole archive"
        case .stagingUnwritable: "; check that the staging directory is writable by the agent"
        case .sourceUnreadable: "; check that the agent can read the whole data dir"
        case .noSpace: "; free space beside the data dir, or put the data dir on XFS or btrfs, where a reflink needs almost none; or `felhom-agent guest capture NAME off`, which keeps the apps down for the whole archive"
        case .snapshotFailed: "; the capture folder must be on the same btrfs file system as the data dir subvolume, and the agent must run as root; or `felhom-agent guest capture NAME reflink`"
        case .unsupported: ""
        case .badStaging: ""
        default: ""
        }
        return "capture \(code): \(operation) \(path)\(reason)\(advice)"
    }
}
