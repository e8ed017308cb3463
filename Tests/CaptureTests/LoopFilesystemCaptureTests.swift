import Capture
import Foundation
import Stacks
import TestSupport
import Testing

/// A file system of its own on a loop device, mounted for one test and gone after it.
final class LoopFilesystem: @unchecked Sendable {
    let mountPoint: String
    private let root: TemporaryDirectory

    /// `mkfs` is `mkfs.xfs` or `mkfs.btrfs`, with its quiet and force flags.
    init(_ mkfs: [String]) async throws {
        root = try TemporaryDirectory("felhom-loopfs")
        mountPoint = root.path + "/mnt"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let image = root.path + "/fs.img"
        try await Self.run(["truncate", "-s", "1G", image])
        try await Self.run(mkfs + [image])
        try await Self.run(["mount", "-o", "loop", image, mountPoint])
    }

    func unmount() async {
        _ = try? await Self.run(["umount", mountPoint])
    }

    /// Runs `body` on a fresh file system made by `mkfs`, and unmounts it whatever happens.
    static func with<T>(_ mkfs: [String], _ body: (LoopFilesystem) async throws -> T) async throws -> T {
        let fs = try await LoopFilesystem(mkfs)
        do {
            let result = try await body(fs)
            await fs.unmount()
            return result
        } catch {
            await fs.unmount()
            throw error
        }
    }

    @discardableResult
    static func run(_ argv: [String]) async throws -> String {
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: argv[0], arguments: Array(argv.dropFirst()), timeout: .seconds(300)))
        guard output.succeeded else { throw TreeError("\(argv.joined(separator: " ")): \(output.standardError)") }
        return output.standardOutput
    }
}

/// Root can mount loop file systems here; CI runs as root, so there these tests always run.
struct CanMountLoop {
    static var available: Bool { getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
}

@Suite("Reflink captures on XFS and btrfs loop file systems", .enabled(if: CanMountLoop.available), .serialized)
struct LoopFilesystemCaptureTests {
    static let filesystems: [(name: String, mkfs: [String], kind: FileSystemKind)] = [
        ("xfs", ["mkfs.xfs", "-q", "-m", "reflink=1", "-f"], .xfs),
        ("btrfs", ["mkfs.btrfs", "-q", "-f"], .btrfs),
    ]

    @Test("auto picks reflink for a plain directory; the copy reflinks, and equals the live tree after every change and under a writer", arguments: [0, 1])
    func reflink(filesystem index: Int) async throws {
        let (name, mkfs, kind) = Self.filesystems[index]
        try await LoopFilesystem.with(mkfs) { fs in
            #expect(try FileSystemKind.of(fs.mountPoint) == kind)
            try FileManager.default.createDirectory(atPath: fs.mountPoint + "/plain", withIntermediateDirectories: true)
            #expect(CaptureMethod.automatic(for: kind, isSubvolume: try FileSystemKind.isBtrfsSubvolume(fs.mountPoint + "/plain")) == .reflink)
            var cloned = 0
            for change in StagingCopyTests.changes {
                let outcome = try await StagingCopyTests.run(change, rule: StrictChangeRule(), clone: true, base: fs.mountPoint)
                #expect(outcome.equal, "\(name), \(change.name):\n\(outcome.difference)")
                cloned += outcome.cloned
            }
            #expect(cloned > 0, "\(name): nothing was reflinked")
            let underWriter = try await StagingCopyTests.concurrentWriter(seed: 7, root: fs.mountPoint + "/writer", clone: true)
            #expect(underWriter > 0)
            print("[capture] \(name): \(cloned) files reflinked over \(StagingCopyTests.changes.count) change cases, \(underWriter) under the writer")
        }
    }

    @Test("a btrfs subvolume is detected, so auto picks its snapshot")
    func btrfsSubvolume() async throws {
        try await LoopFilesystem.with(["mkfs.btrfs", "-q", "-f"]) { fs in
            try await LoopFilesystem.run(["btrfs", "subvolume", "create", fs.mountPoint + "/data"])
            #expect(try FileSystemKind.isBtrfsSubvolume(fs.mountPoint + "/data"))
            #expect(CaptureMethod.automatic(for: .btrfs, isSubvolume: true) == .snapshot)
        }
    }

    @Test("on ext4 auto picks a copy, and a clone asked for anyway is refused per file and copied: the copy is still exact")
    func ext4FallsBack() async throws {
        try await LoopFilesystem.with(["mkfs.ext4", "-q", "-F"]) { fs in
            #expect(try FileSystemKind.of(fs.mountPoint) == .ext4)
            #expect(CaptureMethod.automatic(for: .ext4, isSubvolume: false) == .copy)
            let outcome = try await StagingCopyTests.run(StagingCopyTests.changes[1], rule: StrictChangeRule(), clone: true, base: fs.mountPoint)
            #expect(outcome.equal && outcome.cloned == 0, "\(outcome.difference)")
        }
    }
}
