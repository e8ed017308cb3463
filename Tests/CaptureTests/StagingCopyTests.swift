import Capture
import Foundation
import Synchronization
import TestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The staging copy's promise: after the delta pass, the copy is exactly the tree as it was when
/// the apps stopped. Checked by `scripts/tree-hash.py`, not by the code under test.
@Suite("A staging copy and its delta pass reproduce the stopped tree exactly")
struct StagingCopyTests {
    typealias Change = (name: String, apply: @Sendable (TreeWriter) throws -> Void)

    /// A small tree with every kind of node the copy must keep.
    static func seed(_ tree: TreeWriter) throws {
        try tree.write("app/config.yaml", "port: 8080\n")
        try tree.write("app/a.dat", "AAAA-first")
        try tree.write("app/b.dat", "BBBB-first")
        try tree.write("db/pg/base/16384/1259", String(repeating: "row,", count: 4096))
        try tree.write("db/pg/PG_VERSION", "15\n")
        try tree.write("media/photo.jpg", String(repeating: "\u{1}", count: 70_000))
        try tree.link("media/photo.jpg", "media/photo-link.jpg")
        try tree.write("logs/app.log", "started\n")
        try tree.symlink("../app/config.yaml", "logs/config-link")
        try tree.fifo("logs/control.fifo")
        try tree.sparse("db/sparse.img", size: 64 << 20)
        try tree.write("deep/a/b/c/d/leaf.txt", "leaf")
        try tree.mkdir("empty")
        try tree.write("owned.txt", "owner and mode")
        try tree.chown("owned.txt", 1234, 5678)
        try tree.chmod("owned.txt", 0o4751)
        try tree.setxattr("app/config.yaml", "user.felhom.note", "kept")
        try tree.write("kind-file", "a file for now")
        try tree.mkdir("kind-dir/inside")
        try tree.write("kind-dir/inside/x", "x")
        try tree.symlink("app", "kind-link")
    }

    /// The changes that fool a size-and-mtime quick check, or a careless copy.
    static let changes: [Change] = [
        ("same-size rewrite in the same second", { try $0.write("app/a.dat", "AAAA-again") }),
        ("mtime-preserving rewrite", { tree in
            let before = try tree.modified("app/b.dat")
            try tree.write("app/b.dat", "BBBB-again")
            try tree.setModified("app/b.dat", before)
        }),
        ("rename-swap of two equal-size files", { try $0.swap("app/a.dat", "app/b.dat") }),
        ("delete and recreate", { tree in
            try tree.remove("db/pg/PG_VERSION")
            try tree.write("db/pg/PG_VERSION", "16\n")
        }),
        ("hard link added", { try $0.link("app/config.yaml", "app/config-copy.yaml") }),
        ("hard link removed", { try $0.remove("media/photo-link.jpg") }),
        ("file becomes a directory", { tree in
            try tree.remove("kind-file")
            try tree.write("kind-file/now-a-dir", "d")
        }),
        ("directory becomes a symlink", { tree in
            try tree.remove("kind-dir")
            try tree.symlink("media", "kind-dir")
        }),
        ("symlink becomes a file", { tree in
            try tree.remove("kind-link")
            try tree.write("kind-link", "a file now")
        }),
        ("xattr-only change", { try $0.setxattr("app/config.yaml", "user.felhom.note", "changed") }),
        ("chmod-only change", { try $0.chmod("db/pg/base/16384/1259", 0o600) }),
        ("chown-only change", { try $0.chown("logs/app.log", 999, 999) }),
        ("sparse file extended and written at its end", { tree in
            let descriptor = open(tree.path("db/sparse.img"), O_WRONLY)
            defer { close(descriptor) }
            _ = Array("more".utf8).withUnsafeBytes { pwrite(descriptor, $0.baseAddress, 4, off_t(80 << 20)) }
        }),
        ("deep directory renamed", { try $0.rename("deep/a", "deep/z") }),
        ("created and deleted between the passes, and a new file", { tree in
            try tree.write("tmp-created", "gone soon")
            try tree.remove("tmp-created")
            try tree.write("app/new.txt", "new")
        }),
    ]

    struct Outcome {
        var name: String
        var equal: Bool
        var difference: String
        /// Files the full pass reflinked.
        var cloned: Int
    }

    /// A fresh tree under `base` (a temporary directory by default), a full pass, `change`, the stop;
    /// the delta pass; both trees hashed.
    static func run(_ change: Change, rule: any ChangeRule, clone: Bool = false, base: String? = nil) async throws -> Outcome {
        let temporary = try TemporaryDirectory("felhom-capture")
        let root = base.map { $0 + "/" + UUID().uuidString.prefix(8) } ?? temporary.path
        defer { if base != nil { try? FileManager.default.removeItem(atPath: root) } }
        let tree = TreeWriter(root: root + "/data")
        try seed(tree)
        try FileManager.default.createDirectory(atPath: root + "/captures", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var copy = try StagingCopy(source: tree.root, staging: root + "/captures/tree", clone: clone, rule: rule)
        let full = try copy.fullPass()
        try change.apply(tree)
        let live = try await TreeOracle.lines(tree.root)
        try copy.deltaPass()
        let copied = try await TreeOracle.lines(root + "/captures/tree")
        return Outcome(name: change.name, equal: live == copied, difference: TreeOracle.difference(live, copied), cloned: full.cloned)
    }

    @Test("each change between the passes is caught, with and without the racy-ctime window", arguments: [Int64(0), 1_000_000_000])
    func everyChangeCaught(racyWindowNs: Int64) async throws {
        for change in Self.changes {
            let outcome = try await Self.run(change, rule: StrictChangeRule(racyWindowNs: racyWindowNs))
            #expect(outcome.equal, "\(change.name) (window \(racyWindowNs) ns):\n\(outcome.difference)")
        }
    }

    @Test("negative control: with rsync's quick check instead, the oracle catches the rewrites it misses")
    func quickCheckFails() async throws {
        var missed: [String] = []
        for change in Self.changes {
            let outcome = try await Self.run(change, rule: QuickCheckRule())
            if !outcome.equal { missed.append(change.name) }
        }
        print("[capture] rsync's quick check left the copy wrong after: \(missed.joined(separator: "; "))")
        #expect(missed.contains("mtime-preserving rewrite"), "\(missed)")
        #expect(missed.contains("xattr-only change") && missed.contains("chmod-only change"), "\(missed)")
    }

    @Test("a seeded writer changes the tree during the full passes; after it stops, the delta pass makes the copy equal the live tree",
          arguments: [UInt64(1), 2, 3, 4, 5])
    func concurrentWriter(seed: UInt64) async throws {
        let root = try TemporaryDirectory("felhom-capture")
        try await Self.concurrentWriter(seed: seed, root: root.path, clone: false)
    }

    /// The seeded-writer oracle under `root`; returns how many files the passes reflinked.
    @discardableResult
    static func concurrentWriter(seed: UInt64, root: String, clone: Bool) async throws -> Int {
        let tree = TreeWriter(root: root + "/data")
        try Self.seed(tree)
        try FileManager.default.createDirectory(atPath: root + "/captures", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let writer = SeededWriter(tree: tree, seed: seed)
        writer.start()
        var copy = try StagingCopy(source: tree.root, staging: root + "/captures/tree", clone: clone)
        var cloned = 0
        // Writes land before, during and between the passes, as they do while the apps run.
        repeat { cloned += try copy.fullPass().cloned } while writer.operations < 200
        cloned += try copy.fullPass().cloned
        let operations = writer.stop()
        let live = try await TreeOracle.lines(tree.root)
        let report = try copy.deltaPass()
        let copied = try await TreeOracle.lines(root + "/captures/tree")
        #expect(live == copied, "seed \(seed), \(operations) writes:\n\(TreeOracle.difference(live, copied))")
        print("[capture] seed \(seed): \(operations) writes during prepare; the delta pass looked at \(report.paths) paths and copied \(report.copied), \(cloned + report.cloned) reflinked in all")
        return cloned + report.cloned
    }
}

/// Mutates a tree from its own thread with a seeded generator until stopped: rewrites in place,
/// same-size and mtime-preserving ones among them, renames, deletes, links, modes and xattrs.
final class SeededWriter: @unchecked Sendable {
    let tree: TreeWriter
    private var state: UInt64
    private let stopping = Atomic<Bool>(false)
    private let count = Atomic<Int>(0)
    private let done = DispatchSemaphore(value: 0)

    init(tree: TreeWriter, seed: UInt64) {
        self.tree = tree
        self.state = seed &* 0x9E37_79B9_7F4A_7C15
    }

    var operations: Int { count.load(ordering: .relaxed) }

    private func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }

    func start() {
        Thread.detachNewThread { [self] in
            while !stopping.load(ordering: .relaxed) {
                step()
                count.add(1, ordering: .relaxed)
            }
            done.signal()
        }
    }

    func stop() -> Int {
        stopping.store(true, ordering: .relaxed)
        done.wait()
        return operations
    }

    private func step() {
        let file = "w/f\(next(40)).dat"
        let other = "w/f\(next(40)).dat"
        // Each step may fail harmlessly (a file a previous step removed): the tree is whatever it became.
        switch next(10) {
        case 0: try? tree.write(file, String(repeating: "\(next(10))", count: 1 + next(3000)))
        case 1: try? tree.write(file, String(repeating: "s", count: 64))  // same size, again and again
        case 2:
            if let before = try? tree.modified(file) {
                try? tree.write(file, String(repeating: "\(next(10))", count: 64))
                try? tree.setModified(file, before)
            }
        case 3: try? tree.rename(file, other)
        case 4: try? tree.remove(file)
        case 5: try? tree.link(file, "w/l\(next(20)).dat")
        case 6: try? tree.chmod(file, mode_t(0o600 + next(0o177)))
        case 7: try? tree.setxattr(file, "user.v", "\(next(1000))")
        case 8: try? tree.mkdir("w/d\(next(5))/e\(next(5))")
        default:
            try? tree.remove("w/d\(next(5))")
            try? tree.symlink("f\(next(40)).dat", "w/d\(next(5))")
        }
    }
}
