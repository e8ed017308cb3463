#if canImport(Glibc)
import Glibc
#endif

/// A host-private copy of a data dir that a *delta pass* brings up to date in a short window.
///
/// The full pass runs while the apps still run (`prepare`), and may be repeated while much
/// changes. The delta pass runs once they are stopped: it `lstat`s every path and copies again
/// only what the ``ChangeRule`` cannot prove unchanged, compares each directory's entries to
/// catch deletes, renames and type flips, and keeps hard links as links. Its cost is the number
/// of paths plus the size of what changed, not the size of the data.
///
/// The recorded states live only in this value, never on disk: a copy is never reused after a
/// crash, because nothing could tell which of its files a dead process had finished.
public struct StagingCopy: Sendable {
    /// What one pass did.
    public struct PassReport: Sendable, Equatable {
        /// Paths looked at in the data dir.
        public var paths = 0
        /// Nodes copied (or reflinked) again.
        public var copied = 0
        /// Data bytes written into the copy.
        public var bytes: Int64 = 0
        /// Entries removed from the copy because the data dir no longer has them.
        public var removed = 0
        /// Names made hard links again.
        public var relinked = 0
        /// Files whose data was reflinked rather than copied; their bytes are not in `bytes`.
        public var cloned = 0
    }

    private struct Copied: Sendable {
        var state: FileState
        var copiedAtNs: Int64
    }

    private struct InodeKey: Hashable {
        var device: UInt64
        var inode: UInt64
    }

    /// The data dir.
    public let source: String
    /// The copy's root.
    public let staging: String
    /// What the delta pass trusts as unchanged.
    public let rule: any ChangeRule
    /// Reflink each file's data (XFS with reflink, btrfs) and copy only where the file system refuses.
    public let clone: Bool
    /// Checked before each entry: a pass that is no longer wanted ends with a `cancelled` error.
    public var shouldStop: @Sendable () -> Bool = { false }
    private var recorded: [String: Copied] = [:]
    private var passes = 0
    private var temporaryCounter = 0

    /// - Parameters:
    ///   - source: the data dir.
    ///   - staging: where the copy's root goes. Its parent must exist (and should be 0700, out of
    ///     the guest's sight); it must not be inside `source`.
    public init(source: String, staging: String, clone: Bool = false, rule: any ChangeRule = StrictChangeRule()) throws(CaptureError) {
        let source = Self.normalized(source)
        let staging = Self.normalized(staging)
        guard staging != source, !staging.hasPrefix(source + "/") else {
            throw CaptureError(.badStaging, path: staging, "a staging copy inside the data dir \(source) would copy itself:")
        }
        self.source = source
        self.staging = staging
        self.rule = rule
        self.clone = clone
    }

    /// Copies everything. The first pass, and any repeat while the apps still run.
    @discardableResult
    public mutating func fullPass() throws(CaptureError) -> PassReport {
        try pass(full: true)
    }

    /// Copies again only what changed since the last pass; run while the apps are stopped.
    @discardableResult
    public mutating func deltaPass() throws(CaptureError) -> PassReport {
        guard passes > 0 else { throw CaptureError(.notPrepared, path: staging, "a delta pass needs a full pass first:") }
        return try pass(full: false)
    }

    private mutating func pass(full: Bool) throws(CaptureError) -> PassReport {
        var report = PassReport()
        var links: [InodeKey: String] = [:]
        var seen: Set<String> = []
        guard let root = try FileState.of(source), root.kind == .directory else {
            throw CaptureError(.sourceUnreadable, path: source, errno: ENOTDIR, "the data dir is not a directory:")
        }
        if let existing = try FileState.of(staging), existing.kind != .directory { try NodeCopier.removeTree(staging) }
        if try FileState.of(staging) == nil, mkdir(staging, 0o700) != 0 {
            throw CaptureError(.stagingUnwritable, path: staging, errno: errno, "mkdir")
        }
        try copyDirectory("", full: full, report: &report, links: &links, seen: &seen)
        recorded = recorded.filter { seen.contains($0.key) }
        passes += 1
        return report
    }

    private mutating func copyDirectory(
        _ relative: String, full: Bool, report: inout PassReport, links: inout [InodeKey: String], seen: inout Set<String>
    ) throws(CaptureError) {
        let from = source + relative
        let to = staging + relative
        let names = Set(try NodeCopier.entries(of: from))
        for stale in try NodeCopier.entries(of: to, inStaging: true) where !names.contains(stale) {
            try NodeCopier.removeTree(to + "/" + stale)
            report.removed += 1
        }
        for name in names.sorted() {
            if shouldStop() { throw CaptureError(.cancelled, path: source, "the pass was stopped:") }
            let child = relative + "/" + name
            guard let current = try FileState.of(source + child) else { continue }  // gone since the listing
            report.paths += 1
            seen.insert(child)
            let target = try FileState.of(staging + child)
            if let target, !Self.sameKind(target, current) {
                try NodeCopier.removeTree(staging + child)
            }
            switch current.kind {
            case .directory:
                if target?.kind != .directory, mkdir(staging + child, 0o700) != 0 {
                    throw CaptureError(.stagingUnwritable, path: staging + child, errno: errno, "mkdir")
                }
                try copyDirectory(child, full: full, report: &report, links: &links, seen: &seen)
            case .regular where current.links > 1:
                let key = InodeKey(device: current.device, inode: current.inode)
                if let first = links[key], try link(staging + child, to: staging + first, report: &report) {
                    recorded[child] = recorded[first]
                } else {
                    try copyIfChanged(child, current: current, full: full || links[key] != nil, report: &report)
                    // Only a name whose copy exists can be the one the others link to.
                    if links[key] == nil, recorded[child] != nil { links[key] = child }
                }
            case .regular, .symlink, .fifo, .characterDevice, .blockDevice:
                try copyIfChanged(child, current: current, full: full, report: &report)
            case .socket:
                recorded[child] = nil
            }
        }
        // After the children, whose creation moves a directory's mtime.
        _ = try NodeCopier.copyDirectoryMetadata(from, to: to)
    }

    private mutating func copyIfChanged(_ child: String, current: FileState, full: Bool, report: inout PassReport) throws(CaptureError) {
        if !full, let copied = recorded[child], rule.isUnchanged(copied.state, copiedAtNs: copied.copiedAtNs, current: current),
           try FileState.of(staging + child) != nil {
            return
        }
        let startedAt = Self.now()
        temporaryCounter += 1
        // A name no data dir is likely to hold; and if it does, it is a stale entry the pass removes.
        let temporary = (staging + child).deletingLastComponent + "/.felhom-capture-\(getpid())-\(temporaryCounter)"
        if try FileState.of(temporary) != nil { try NodeCopier.removeTree(temporary) }
        // What vanished or changed kind since its lstat is dropped from the copy and left unrecorded:
        // the next pass copies what it became.
        recorded[child] = nil
        if current.kind == .regular {
            guard let copied = try NodeCopier.copyFile(source + child, to: staging + child, temporary: temporary, clone: clone) else {
                return try NodeCopier.removeTree(staging + child)
            }
            recorded[child] = Copied(state: copied.state, copiedAtNs: startedAt)
            report.bytes += copied.bytes
            if copied.cloned { report.cloned += 1 }
        } else {
            guard let state = try NodeCopier.copySpecial(source + child, to: staging + child, temporary: temporary) else {
                return try NodeCopier.removeTree(staging + child)
            }
            recorded[child] = Copied(state: state, copiedAtNs: startedAt)
        }
        report.copied += 1
    }

    /// Makes `path` a hard link to `first`, as the two names are in the data dir; `false` when
    /// `first` has no copy to link to (it vanished during the pass).
    private func link(_ path: String, to first: String, report: inout PassReport) throws(CaptureError) -> Bool {
        guard let canonical = try FileState.of(first) else { return false }
        if let existing = try FileState.of(path), existing.inode == canonical.inode { return true }
        try NodeCopier.removeTree(path)
        guard Glibc.link(first, path) == 0 else {
            if errno == ENOENT { return false }
            throw CaptureError(.stagingUnwritable, path: path, errno: errno, "link")
        }
        report.relinked += 1
        return true
    }

    private static func sameKind(_ a: FileState, _ b: FileState) -> Bool { a.kind == b.kind }

    private static func now() -> Int64 {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
    }

    private static func normalized(_ path: String) -> String {
        var path = path
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path
    }
}

extension String {
    var deletingLastComponent: String {
        guard let slash = lastIndex(of: "/") else { return "." }
        return slash == startIndex ? "/" : String(self[..<slash])
    }
}
