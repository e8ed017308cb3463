#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes that survive a crash or a power cut at any point: either the old
/// content or the new one is on disk afterwards, never a torn mix.
public enum DurableFile {
    /// Writes `bytes` to a temporary sibling, fsyncs it, renames it over `path`,
    /// and fsyncs the directory so the rename itself is durable.
    public static func writeAtomically(_ bytes: some Collection<UInt8>, to path: String, mode: mode_t = 0o600) throws(DurableFileError) {
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw DurableFileError(operation: "create", path: temporary, errno: errno) }
        do throws(DurableFileError) {
            // open() applies the umask; the mode must be exactly what was asked for.
            guard fchmod(descriptor, mode) == 0 else { throw DurableFileError(operation: "chmod", path: temporary, errno: errno) }
            try writeAll(Array(bytes), to: descriptor, path: temporary)
            guard fsync(descriptor) == 0 else { throw DurableFileError(operation: "fsync", path: temporary, errno: errno) }
        } catch {
            close(descriptor)
            unlink(temporary)
            throw error
        }
        close(descriptor)
        do throws(DurableFileError) {
            try rename(temporary, to: path)
        } catch {
            unlink(temporary)
            throw error
        }
    }

    /// Renames `source` to `destination` and fsyncs the destination's directory.
    public static func rename(_ source: String, to destination: String) throws(DurableFileError) {
        guard Glibc.rename(source, destination) == 0 else {
            throw DurableFileError(operation: "rename to \(destination)", path: source, errno: errno)
        }
        try syncDirectory(containing: destination)
    }

    /// Flushes a file's data to the disk.
    public static func sync(path: String) throws(DurableFileError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DurableFileError(operation: "open", path: path, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw DurableFileError(operation: "fsync", path: path, errno: errno) }
    }

    /// Flushes the directory entry of `path`, which makes a create, rename or unlink in it durable.
    public static func syncDirectory(containing path: String) throws(DurableFileError) {
        try syncDirectory(parentDirectory(of: path))
    }

    /// Flushes a directory's entries.
    public static func syncDirectory(_ directory: String) throws(DurableFileError) {
        let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DurableFileError(operation: "open directory", path: directory, errno: errno) }
        defer { close(descriptor) }
        guard fsync(descriptor) == 0 else { throw DurableFileError(operation: "fsync directory", path: directory, errno: errno) }
    }

    /// Removes a file if it exists, durably; a missing file is not an error.
    public static func remove(_ path: String) throws(DurableFileError) {
        if unlink(path) != 0 {
            guard errno == ENOENT else { throw DurableFileError(operation: "remove", path: path, errno: errno) }
            return
        }
        try syncDirectory(containing: path)
    }

    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let parent = String(path[..<slash])
        return parent.isEmpty ? "/" : parent
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32, path: String) throws(DurableFileError) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { buffer in
                write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
            }
            if written < 0 {
                if errno == EINTR { continue }
                throw DurableFileError(operation: "write", path: path, errno: errno)
            }
            offset += written
        }
    }
}
