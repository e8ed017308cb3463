#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file-system call that failed: which call, on which path, with which errno.
public struct DurableFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    /// The disk or its quota is full; nothing partial was left behind.
    public var isDiskFull: Bool { errno == ENOSPC || errno == EDQUOT }

    public var description: String {
        let reason = String(cString: strerror(errno))
        if isDiskFull {
            return "\(operation) \(path): \(reason); free space on that file system and retry"
        }
        return "\(operation) \(path): \(reason)"
    }
}
