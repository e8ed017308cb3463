import CFileSystem
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What a guest's config asks for: `capture: auto|snapshot|reflink|copy|off`.
public enum CaptureSetting: String, Sendable, Equatable, CaseIterable, Codable {
    case auto, snapshot, reflink, copy, off
}

/// One point-in-time copy of a data dir: made while the apps run (``prepare(source:root:name:setting:)``),
/// brought to the stopped state in the window (``window()``), archived, then ``remove()``d.
///
/// A capture lives in a 0700 folder beside the data dir, on the same file system (reflinks and
/// snapshots need that), named so that ``sweep(root:keeping:)`` can find what a crash left.
public final class DataCapture: Sendable {
    /// What the window did, and how long it took.
    public struct WindowReport: Sendable, Equatable {
        public var method: CaptureMethod
        public var nanoseconds: Int64
        /// The delta pass's report; `nil` for a snapshot.
        public var pass: StagingCopy.PassReport?
    }

    /// What prepare did.
    public struct PrepareReport: Sendable, Equatable {
        public var method: CaptureMethod
        public var passes: Int
        /// The data dir's bytes, as the space check counted them.
        public var dataBytes: Int64
        /// Paths the last prepare pass copied again: what the window's delta pass will likely meet.
        public var lastPassCopied: Int
        /// Why `auto` chose less than the file system could do, for the backup's record.
        public var note: String?
    }

    /// What a prepare pass may still have copied for prepare to stop repeating: a small delta makes a short window.
    static let settledPaths = 64
    static let maxPreparePasses = 4
    /// Free space a capture leaves on the file system, whatever the data dir's size.
    static let headroomBytes: Int64 = 64 << 20

    public let method: CaptureMethod
    public let source: String
    /// The capture's root, which is archived after the window.
    public let path: String
    private let copy: Mutex<StagingCopy?>

    private init(method: CaptureMethod, source: String, path: String, copy: StagingCopy?) {
        self.method = method
        self.source = source
        self.path = path
        self.copy = Mutex(copy)
    }

    /// Where captures of the data dir `source` go unless configured: a 0700 folder beside it.
    public static func defaultRoot(for source: String) -> String {
        var parent = source
        while parent.count > 1, parent.hasSuffix("/") { parent.removeLast() }
        parent = parent.deletingLastComponent
        return (parent == "/" ? "" : parent) + "/.felhom-captures"
    }

    /// The method `setting` gives for `source`; `nil` for `off`.
    public static func method(for setting: CaptureSetting, source: String) throws(CaptureError) -> CaptureMethod? {
        let filesystem = try FileSystemKind.of(source)
        let subvolume = try FileSystemKind.isBtrfsSubvolume(source)
        switch setting {
        case .off: return nil
        case .auto: return CaptureMethod.automatic(for: filesystem, isSubvolume: subvolume)
        case .snapshot:
            guard subvolume else {
                throw CaptureError(.unsupported, path: source, "capture: snapshot needs the data dir to be a btrfs subvolume, a ZFS dataset or an LVM thin volume (it is on \(filesystem)); use capture: auto")
            }
            return .snapshot
        case .reflink: return .reflink
        case .copy: return .copy
        }
    }

    /// Makes the capture while the apps run: checks the free space, then copies (or clones) the data
    /// dir, repeating the pass while much still changes; a snapshot is only tried and undone here.
    /// Nothing of a failed prepare is left behind.
    public static func prepare(
        source: String, root: String, name: String, setting: CaptureSetting,
        isCancelled: @escaping @Sendable () -> Bool = { false }
    ) throws(CaptureError) -> (DataCapture, PrepareReport)? {
        guard var method = try method(for: setting, source: source) else { return nil }
        var notes: [String] = []
        try makeRoot(root)
        let path = root + "/" + name
        if try FileState.of(path) != nil { try removeAny(path) }
        let survey = try survey(source)
        if method == .snapshot, let nested = survey.nestedSubvolume {
            // A btrfs snapshot leaves nested subvolumes out, as empty directories: the archive would miss their data.
            guard setting == .auto else {
                throw CaptureError(.unsupported, path: nested, "capture: snapshot would leave out the nested subvolume (or mount)")
            }
            method = .reflink
            notes.append("the data dir holds a nested subvolume or mount (\(nested)), which a snapshot leaves out; it was reflinked")
        }
        if method == .snapshot, !ProcessCapabilities.hasSysAdmin {
            // The snapshot could be made, but not deleted again: it would stay behind after every backup.
            guard setting == .auto else {
                throw CaptureError(.unsupported, path: source, "capture: snapshot needs CAP_SYS_ADMIN, which the agent does not hold, to delete its btrfs snapshots; grant it (see the README) or use capture: auto, for")
            }
            method = .reflink
            notes.append("the agent lacks CAP_SYS_ADMIN, which deleting a btrfs snapshot needs; it was reflinked")
        }
        if method == .reflink, !(try canClone(survey.sampleFile, into: root)) {
            // Refused clones fall back to copies: the space a copy needs must be there.
            method = .copy
            notes.append("reflinks are refused between the data dir and \(root) (another file system, or reflink=0); it was copied")
        }
        let dataBytes = survey.bytes
        let needed = headroomBytes + (method == .copy ? dataBytes + dataBytes / 20 : method == .reflink ? dataBytes / 50 : 0)
        let free = try freeBytes(root)
        guard free >= needed else {
            throw CaptureError(.noSpace, path: root, "a \(method.rawValue) capture of \(dataBytes) bytes needs \(needed) bytes free, and there are \(free), at")
        }
        do {
            switch method {
            case .snapshot:
                // Proves, while nothing is stopped, that the window's snapshot will work here.
                try snapshot(source, to: path)
                try destroySnapshot(path)
                let capture = DataCapture(method: method, source: source, path: path, copy: nil)
                return (capture, PrepareReport(method: method, passes: 0, dataBytes: dataBytes, lastPassCopied: 0, note: nil))
            case .reflink, .copy:
                var copy = try StagingCopy(source: source, staging: path, clone: method == .reflink)
                // Checked every 256 entries: a copy that would leave less than the headroom stops, before the apps' disk is full.
                let checks = Atomic<Int>(0)
                copy.shouldStop = {
                    if checks.add(1, ordering: .relaxed).newValue % 256 == 0, (try? freeBytes(root)).map({ $0 < headroomBytes }) == true {
                        return true
                    }
                    return isCancelled()
                }
                var last = try copy.fullPass()
                var passes = 1
                // A file changed in the second before its copy is *racy*: every delta pass copies it again
                // until its ctime is a window old. Waiting that out once, while the apps run, keeps such a
                // file (a dump written just before the backup, say) out of the window's pass.
                var pause = timespec(tv_sec: 1, tv_nsec: 100_000_000)
                nanosleep(&pause, nil)
                // Delta passes while the apps run, until little changes between two: the window's pass is then short.
                repeat {
                    last = try copy.deltaPass()
                    passes += 1
                } while passes < maxPreparePasses && last.copied + last.removed > settledPaths
                let capture = DataCapture(method: method, source: source, path: path, copy: copy)
                let note = notes.isEmpty ? nil : notes.joined(separator: "; ")
                return (capture, PrepareReport(method: method, passes: passes, dataBytes: dataBytes, lastPassCopied: last.copied, note: note))
            case .off:
                return nil
            }
        } catch {
            try? removeAny(path)
            if error.code == .cancelled, (try? freeBytes(root)).map({ $0 < headroomBytes }) == true {
                throw CaptureError(.noSpace, path: root, "the file system filled up while the capture was made; fewer than \(headroomBytes) bytes were left free at")
            }
            throw error
        }
    }

    /// Brings the capture to the data dir's state now; run while the apps are stopped.
    /// Returns only once the capture is complete.
    public func window() throws(CaptureError) -> WindowReport {
        let started = Self.monotonicNs()
        var pass: StagingCopy.PassReport?
        switch method {
        case .snapshot:
            try Self.snapshot(source, to: path)
        case .reflink, .copy:
            pass = try copy.withLock { copy throws(CaptureError) -> StagingCopy.PassReport in
                guard var current = copy else { throw CaptureError(.notPrepared, path: path, "the capture was removed before its window:") }
                // The window's pass always runs to its end: the apps are already stopped for it.
                current.shouldStop = { false }
                defer { copy = current }
                return try current.deltaPass()
            }
        case .off:
            break
        }
        return WindowReport(method: method, nanoseconds: Self.monotonicNs() - started, pass: pass)
    }

    /// Deletes the capture, whatever state it is in.
    public func remove() throws(CaptureError) {
        copy.withLock { $0 = nil }
        try Self.removeAny(path)
    }

    /// Deletes the capture `root/only`, whatever state a crash left it in.
    public static func sweep(root: String, only name: String) throws(CaptureError) {
        try removeAny(root + "/" + name)
    }

    /// The nested subvolume or mount below `source` that a snapshot of it would leave out, if any.
    public static func nestedMount(in source: String) throws(CaptureError) -> String? {
        try survey(source).nestedSubvolume
    }

    /// Makes the 0700 capture folder `root`, or checks the one there is the agent's.
    public static func makeRoot(_ root: String) throws(CaptureError) {
        if let state = try FileState.of(root) {
            guard state.kind == .directory else { throw CaptureError(.badStaging, path: root, "the capture folder is not a directory:") }
            // Whoever owns it could read every capture in it, or swap in symlinks while one is removed.
            guard state.uid == geteuid() else {
                throw CaptureError(.badStaging, path: root, "the capture folder is owned by uid \(state.uid), not by the agent (uid \(geteuid())); remove it, or chown it to the agent:")
            }
            // The guest must never see another's data, nor its own older state.
            if state.permissions != 0o700, chmod(root, 0o700) != 0 {
                throw CaptureError(.stagingUnwritable, path: root, errno: errno, "chmod 0700")
            }
            return
        }
        guard mkdir(root, 0o700) == 0 || errno == EEXIST else {
            throw CaptureError(.stagingUnwritable, path: root, errno: errno, "mkdir")
        }
        _ = chmod(root, 0o700)
    }

    /// A read-only snapshot lives until the ioctl deletes it; anything else goes as a tree.
    static func removeAny(_ path: String) throws(CaptureError) {
        guard let state = try FileState.of(path) else { return }
        if state.kind == .directory, state.inode == 256, try FileSystemKind.of(path) == .btrfs {
            try destroySnapshot(path)
            return
        }
        try NodeCopier.removeTree(path)
    }

    static func snapshot(_ source: String, to path: String) throws(CaptureError) {
        guard cfs_btrfs_snapshot(source, path.deletingLastComponent, path.lastComponent) == 0 else {
            throw CaptureError(.snapshotFailed, path: path, errno: errno, "btrfs snapshot of \(source) as")
        }
    }

    static func destroySnapshot(_ path: String) throws(CaptureError) {
        guard cfs_btrfs_destroy(path.deletingLastComponent, path.lastComponent) == 0 else {
            throw CaptureError(.snapshotFailed, path: path, errno: errno, "deleting the btrfs snapshot")
        }
    }

    /// Free bytes an unprivileged writer could use on the file system holding `path`.
    static func freeBytes(_ path: String) throws(CaptureError) -> Int64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw CaptureError(.stagingUnwritable, path: path, errno: errno, "statvfs") }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// What prepare needs to know of a data dir before it copies anything.
    struct Survey {
        /// The regular files' sizes, holes counted as data: an upper bound on a copy.
        var bytes: Int64 = 0
        /// A non-empty regular file, to try a clone with.
        var sampleFile: String?
        /// A directory below the root that is a btrfs subvolume root, or on another device.
        var nestedSubvolume: String?
    }

    static func survey(_ source: String) throws(CaptureError) -> Survey {
        guard let root = try FileState.of(source) else {
            throw CaptureError(.sourceUnreadable, path: source, errno: ENOENT, "the data dir is missing:")
        }
        var survey = Survey()
        try walk(source, device: root.device, into: &survey)
        return survey
    }

    private static func walk(_ directory: String, device: UInt64, into survey: inout Survey) throws(CaptureError) {
        for name in try NodeCopier.entries(of: directory) {
            let child = directory + "/" + name
            guard let state = try FileState.of(child) else { continue }
            switch state.kind {
            case .directory:
                if survey.nestedSubvolume == nil, state.device != device || state.inode == 256 { survey.nestedSubvolume = child }
                try walk(child, device: device, into: &survey)
            case .regular:
                survey.bytes += state.size
                if survey.sampleFile == nil, state.size > 0 { survey.sampleFile = child }
            default: break
            }
        }
    }

    /// Whether `sample` can be reflinked into `root`; with nothing to try, whether `root` clones at all.
    static func canClone(_ sample: String?, into root: String) throws(CaptureError) -> Bool {
        let probe = root + "/.felhom-clone-probe-\(getpid())"
        defer { unlink(probe) }
        let output = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw CaptureError(.stagingUnwritable, path: probe, errno: errno, "open") }
        defer { close(output) }
        guard let sample else { return true }
        let input = open(sample, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard input >= 0 else { return false }
        defer { close(input) }
        return cfs_ficlone(output, input) == 0
    }

    private static func monotonicNs() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }
}

extension String {
    var lastComponent: String {
        guard let slash = lastIndex(of: "/") else { return self }
        return String(self[index(after: slash)...])
    }
}

/// Runs file-system work that blocks for long (a full copy) on a thread of its own, so the
/// cooperative pool, two threads on a two-core host, keeps serving requests meanwhile.
public enum BlockingWork {
    public static func run<T: Sendable>(_ work: @escaping @Sendable () throws(CaptureError) -> T) async throws(CaptureError) -> T {
        let result = await withCheckedContinuation { (continuation: CheckedContinuation<Result<T, CaptureError>, Never>) in
            let thread = WorkThread {
                do throws(CaptureError) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
            thread.start()
        }
        return try result.get()
    }
}

/// A detached pthread running one closure.
private final class WorkThread: Sendable {
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) {
        self.body = body
    }

    func start() {
        let box = Unmanaged.passRetained(self).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { argument in
            let work = Unmanaged<WorkThread>.fromOpaque(argument!).takeRetainedValue()
            work.body()
            return nil
        }, box)
        if created == 0 {
            pthread_detach(thread)
        } else {
            // No thread to be had: run here rather than never.
            Unmanaged<WorkThread>.fromOpaque(box).release()
            body()
        }
    }
}
