import CFileSystem
#if canImport(Glibc)
import Glibc
#endif

/// Copies one node (file, symlink, device, FIFO) or one directory's metadata from the data dir
/// into the staging tree, keeping what tar keeps and more: numeric owner, mode, mtime, holes,
/// and every xattr namespace (POSIX ACLs are the `system.posix_acl_*` xattrs).
///
/// A node is built under a temporary name and renamed over its place, so a re-copy never
/// writes through a staging hard link into another name's data.
enum NodeCopier {
    static let chunk = 1 << 20

    /// Whether `errno` says the path changed under us (removed, or now a symlink or a file in a
    /// directory's place): the next pass sees what it became, so this one skips it.
    static func vanished(_ code: Int32) -> Bool { code == ENOENT || code == ENOTDIR || code == ELOOP }

    /// Copies the regular file at `source` to `destination`; returns its state as read, and the
    /// bytes written; `nil` when it vanished before it could be opened.
    /// With `clone`, the data is first tried as a reflink (FICLONE), which costs no bytes; where the
    /// file system refuses, it is copied.
    static func copyFile(_ source: String, to destination: String, temporary: String, clone: Bool) throws(CaptureError) -> (state: FileState, bytes: Int64, cloned: Bool)? {
        let input = open(source, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard input >= 0 else {
            if vanished(errno) { return nil }
            throw CaptureError(.sourceUnreadable, path: source, errno: errno, "open")
        }
        defer { close(input) }
        var info = stat()
        guard fstat(input, &info) == 0 else { throw CaptureError(.sourceUnreadable, path: source, errno: errno, "fstat") }
        let state = FileState(info)
        guard state.kind == .regular else { return nil }  // swapped for something else since its lstat
        let output = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "create") }
        var written: Int64 = 0
        var cloned = false
        do throws(CaptureError) {
            cloned = clone && cfs_ficlone(output, input) == 0
            if !cloned { written = try copyData(from: input, source: source, to: output, temporary: temporary) }
            try applyMetadata(state, descriptor: output, path: temporary)
            try copyExtendedAttributes(from: source, descriptor: input, to: temporary, descriptor: output)
            try setTimes(state, descriptor: output, path: temporary)
        } catch {
            close(output)
            unlink(temporary)
            throw error
        }
        close(output)
        try replace(destination, with: temporary)
        return (state, written, cloned)
    }

    /// The data regions only, so a sparse file stays sparse.
    private static func copyData(from input: Int32, source: String, to output: Int32, temporary: String) throws(CaptureError) -> Int64 {
        var buffer = [UInt8](repeating: 0, count: chunk)
        var offset: off_t = 0
        var written: Int64 = 0
        while true {
            let dataStart = lseek(input, offset, cfs_seek_data())
            if dataStart < 0 {
                if errno == ENXIO { break }  // no data past `offset`: the rest is a hole, or the end
                throw CaptureError(.sourceUnreadable, path: source, errno: errno, "lseek")
            }
            let holeStart = lseek(input, dataStart, cfs_seek_hole())
            guard holeStart >= 0 else {
                // The file shrank below `dataStart` since the last call; the delta pass sees its new size.
                if errno == ENXIO { break }
                throw CaptureError(.sourceUnreadable, path: source, errno: errno, "lseek")
            }
            var position = dataStart
            while position < holeStart {
                let count = pread(input, &buffer, min(chunk, Int(holeStart - position)), position)
                if count < 0 {
                    if errno == EINTR { continue }
                    throw CaptureError(.sourceUnreadable, path: source, errno: errno, "read")
                }
                if count == 0 { break }  // shrank while we read; the next pass sees its new state
                var done = 0
                while done < count {
                    let result = buffer.withUnsafeBytes { pwrite(output, $0.baseAddress! + done, count - done, position + off_t(done)) }
                    if result < 0 {
                        if errno == EINTR { continue }
                        throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "write")
                    }
                    done += result
                }
                position += off_t(count)
                written += Int64(count)
            }
            offset = position
        }
        let end = lseek(input, 0, SEEK_END)
        guard end >= 0, ftruncate(output, end) == 0 else { throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "truncate") }
        return written
    }

    /// Copies the symlink, device, FIFO or (no) socket at `source`; returns its state as read.
    static func copySpecial(_ source: String, to destination: String, temporary: String) throws(CaptureError) -> FileState? {
        guard let state = try FileState.of(source) else { return nil }
        switch state.kind {
        case .symlink:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let length = readlink(source, &target, target.count - 1)
            guard length >= 0 else {
                if vanished(errno) || errno == EINVAL { return nil }
                throw CaptureError(.sourceUnreadable, path: source, errno: errno, "readlink")
            }
            target[length] = 0
            guard symlink(target, temporary) == 0 else { throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "symlink") }
        case .fifo, .characterDevice, .blockDevice:
            guard mknod(temporary, mode_t(state.mode & 0o170000) | 0o600, dev_t(state.rdev)) == 0 else {
                throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "mknod")
            }
        case .socket, .regular, .directory:
            return nil  // sockets are skipped, as tar skips them; the others are not special
        }
        do throws(CaptureError) {
            guard lchown(temporary, state.uid, state.gid) == 0 else { throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "chown") }
            if state.kind != .symlink {
                guard chmod(temporary, state.permissions) == 0 else { throw CaptureError(.stagingUnwritable, path: temporary, errno: errno, "chmod") }
            }
            try copyExtendedAttributes(from: source, to: temporary, removingOthers: true)
            try setTimes(state, path: temporary)
        } catch {
            unlink(temporary)
            throw error
        }
        try replace(destination, with: temporary)
        return state
    }

    /// Owner, mode, xattrs and mtime of the directory `destination`, taken from `source`;
    /// applied after its children, whose creation moves a directory's mtime.
    static func copyDirectoryMetadata(_ source: String, to destination: String) throws(CaptureError) -> FileState? {
        guard let state = try FileState.of(source), state.kind == .directory else { return nil }
        guard lchown(destination, state.uid, state.gid) == 0 else { throw CaptureError(.stagingUnwritable, path: destination, errno: errno, "chown") }
        guard chmod(destination, state.permissions) == 0 else { throw CaptureError(.stagingUnwritable, path: destination, errno: errno, "chmod") }
        try copyExtendedAttributes(from: source, to: destination, removingOthers: true)
        try setTimes(state, path: destination)
        return state
    }

    /// Replaces whatever is at `destination` (a directory too) with `temporary`.
    static func replace(_ destination: String, with temporary: String) throws(CaptureError) {
        if Glibc.rename(temporary, destination) == 0 { return }
        let failure = errno
        // rename cannot replace a directory with a file, or a non-empty directory at all.
        if failure == EISDIR || failure == ENOTEMPTY || failure == EEXIST {
            do throws(CaptureError) {
                try removeTree(destination)
            } catch {
                unlink(temporary)
                throw error
            }
            if Glibc.rename(temporary, destination) == 0 { return }
        }
        let again = errno
        unlink(temporary)
        throw CaptureError(.stagingUnwritable, path: destination, errno: again, "rename")
    }

    /// Removes `path` and everything below it; nothing there is fine.
    static func removeTree(_ path: String) throws(CaptureError) {
        // A stale entry that cannot even be looked at must fail the pass, not stay in the copy.
        guard let state = try FileState.of(path) else { return }
        if state.kind == .directory {
            for name in try entries(of: path, inStaging: true) { try removeTree(path + "/" + name) }
            guard rmdir(path) == 0 || errno == ENOENT else { throw CaptureError(.stagingUnwritable, path: path, errno: errno, "rmdir") }
        } else {
            guard unlink(path) == 0 || errno == ENOENT else { throw CaptureError(.stagingUnwritable, path: path, errno: errno, "unlink") }
        }
    }

    /// The names in directory `path`, without `.` and `..`. A source directory that vanished has none.
    static func entries(of path: String, inStaging: Bool = false) throws(CaptureError) -> [String] {
        guard let directory = opendir(path) else {
            if !inStaging, vanished(errno) { return [] }
            throw CaptureError(inStaging ? .stagingUnwritable : .sourceUnreadable, path: path, errno: errno, "opendir")
        }
        defer { closedir(directory) }
        var names: [String] = []
        while let entry = readdir(directory) {
            let name = withUnsafePointer(to: entry.pointee.d_name) { pointer in
                pointer.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }

    private static func applyMetadata(_ state: FileState, descriptor: Int32, path: String) throws(CaptureError) {
        guard fchown(descriptor, state.uid, state.gid) == 0 else { throw CaptureError(.stagingUnwritable, path: path, errno: errno, "chown") }
        // After chown, which clears setuid and setgid.
        guard fchmod(descriptor, state.permissions) == 0 else { throw CaptureError(.stagingUnwritable, path: path, errno: errno, "chmod") }
    }

    private static func times(_ state: FileState) -> [timespec] {
        [timespec(tv_sec: 0, tv_nsec: cfs_utime_omit()),
         timespec(tv_sec: Int(state.modifiedNs / 1_000_000_000), tv_nsec: Int(state.modifiedNs % 1_000_000_000))]
    }

    private static func setTimes(_ state: FileState, descriptor: Int32, path: String) throws(CaptureError) {
        guard futimens(descriptor, times(state)) == 0 else { throw CaptureError(.stagingUnwritable, path: path, errno: errno, "utimens") }
    }

    private static func setTimes(_ state: FileState, path: String) throws(CaptureError) {
        guard utimensat(AT_FDCWD, path, times(state), AT_SYMLINK_NOFOLLOW) == 0 else {
            throw CaptureError(.stagingUnwritable, path: path, errno: errno, "utimens")
        }
    }

    // MARK: extended attributes, by descriptor for files and by path for the rest

    /// One node's xattr calls, through its descriptor or (not following symlinks) its path.
    private struct Attributes {
        let path: String
        let list: (UnsafeMutablePointer<CChar>?, Int) -> Int
        let get: (String, UnsafeMutableRawPointer?, Int) -> Int
        let set: (String, UnsafeRawPointer?, Int) -> Int32
        let remove: (String) -> Int32

        static func descriptor(_ descriptor: Int32, path: String) -> Attributes {
            Attributes(
                path: path, list: { cfs_flistxattr(descriptor, $0, $1) }, get: { cfs_fgetxattr(descriptor, $0, $1, $2) },
                set: { cfs_fsetxattr(descriptor, $0, $1, $2) }, remove: { cfs_fremovexattr(descriptor, $0) })
        }

        static func path(_ path: String) -> Attributes {
            Attributes(
                path: path, list: { cfs_llistxattr(path, $0, $1) }, get: { cfs_lgetxattr(path, $0, $1, $2) },
                set: { cfs_lsetxattr(path, $0, $1, $2) }, remove: { cfs_lremovexattr(path, $0) })
        }
    }

    private static func copyExtendedAttributes(from source: String, descriptor input: Int32, to destination: String, descriptor output: Int32) throws(CaptureError) {
        // A new file inherits its staging directory's default ACL; the source may have no such ACL.
        try copyExtendedAttributes(.descriptor(input, path: source), to: .descriptor(output, path: destination), removingOthers: true)
    }

    private static func copyExtendedAttributes(from source: String, to destination: String, removingOthers: Bool = false) throws(CaptureError) {
        try copyExtendedAttributes(.path(source), to: .path(destination), removingOthers: removingOthers)
    }

    private static func copyExtendedAttributes(_ source: Attributes, to destination: Attributes, removingOthers: Bool) throws(CaptureError) {
        let names = try attributeNames(source.path) { size in source.list(size.0, size.1) }
        if removingOthers {
            for stale in try attributeNames(destination.path, { size in destination.list(size.0, size.1) }) where !names.contains(stale) {
                guard destination.remove(stale) == 0 || errno == ENODATA else {
                    throw CaptureError(.stagingUnwritable, path: destination.path, errno: errno, "removexattr \(stale)")
                }
            }
        }
        for name in names {
            guard let value = try attributeValue(source.path, name, { source.get(name, $0, $1) }) else { continue }
            guard value.withUnsafeBytes({ destination.set(name, $0.baseAddress, value.count) }) == 0 else {
                throw CaptureError(.stagingUnwritable, path: destination.path, errno: errno, "setxattr \(name)")
            }
        }
    }

    private static func attributeNames(_ path: String, _ list: ((UnsafeMutablePointer<CChar>?, Int)) -> Int) throws(CaptureError) -> [String] {
        while true {
            let size = list((nil, 0))
            if size < 0 {
                if errno == ENOTSUP || errno == ENOENT { return [] }
                throw CaptureError(.sourceUnreadable, path: path, errno: errno, "listxattr")
            }
            if size == 0 { return [] }
            var buffer = [CChar](repeating: 0, count: size)
            let got = buffer.withUnsafeMutableBufferPointer { list(($0.baseAddress, size)) }
            if got < 0, errno == ERANGE { continue }  // grew between the two calls
            guard got >= 0 else { throw CaptureError(.sourceUnreadable, path: path, errno: errno, "listxattr") }
            return buffer[..<got].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
    }

    private static func attributeValue(_ path: String, _ name: String, _ get: (UnsafeMutableRawPointer?, Int) -> Int) throws(CaptureError) -> [UInt8]? {
        while true {
            let size = get(nil, 0)
            if size < 0 {
                if errno == ENODATA { return nil }  // removed between list and get
                throw CaptureError(.sourceUnreadable, path: path, errno: errno, "getxattr \(name)")
            }
            var value = [UInt8](repeating: 0, count: size)
            let got = value.withUnsafeMutableBytes { get($0.baseAddress, size) }
            if got < 0, errno == ERANGE { continue }
            guard got >= 0 else { throw CaptureError(.sourceUnreadable, path: path, errno: errno, "getxattr \(name)") }
            return Array(value[..<got])
        }
    }
}
