import AgentAPI
import Capture
import Foundation
import Stacks
import TestSupport
import Testing

/// The whole fast-capture path through a real agent, on a file system of each kind: prepare while a
/// writer runs, stop the writer (the apps stop), the window, the writer again (the apps run), the
/// archive. Extracted, the archive must be the tree as it was at the stop, by `scripts/tree-hash.py`.
@Suite("Fast capture through the agent keeps exactly the stopped state", .enabled(if: CanMountLoop.available), .serialized)
struct AgentCaptureTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var mkfs: [String]
        var subvolume: Bool
        var expected: BackupCaptureMethod
        var testDescription: String { name }
    }

    static let cases = [
        Case(name: "ext4 copy", mkfs: ["mkfs.ext4", "-q", "-F"], subvolume: false, expected: .copy),
        Case(name: "XFS reflink", mkfs: ["mkfs.xfs", "-q", "-m", "reflink=1", "-f"], subvolume: false, expected: .reflink),
        Case(name: "btrfs reflink", mkfs: ["mkfs.btrfs", "-q", "-f"], subvolume: false, expected: .reflink),
        Case(name: "btrfs snapshot", mkfs: ["mkfs.btrfs", "-q", "-f"], subvolume: true, expected: .snapshot),
    ]

    /// A guest whose data dir is `guests/data` on a fresh loop file system, and a running agent for it.
    struct Rig {
        let fs: LoopFilesystem
        let agent: AgentHarness
        let client: AgentClient
        let token: String
        let data: String
        var captures: String { fs.mountPoint + "/guests/.felhom-captures" }

        func archive(_ id: String) -> String { agent.repository + "/g/\(id).tar.zst" }

        /// What the agent left in its capture folder: nothing, once a backup is over.
        func leftoverCaptures() -> [String] {
            (try? FileManager.default.contentsOfDirectory(atPath: captures)) ?? []
        }
    }

    static func rig(_ fs: LoopFilesystem, subvolume: Bool, environment: [String: String] = [:]) async throws -> Rig {
        let data = fs.mountPoint + "/guests/data"
        try FileManager.default.createDirectory(atPath: fs.mountPoint + "/guests", withIntermediateDirectories: true)
        if subvolume {
            try await LoopFilesystem.run(["btrfs", "subvolume", "create", data])
        } else {
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        }
        let agent = try await AgentHarness()
        let token = try await agent.addGuest("g", dataDirectory: data)
        try await agent.start(environment: environment)
        return Rig(fs: fs, agent: agent, client: try agent.client(token: token), token: token, data: data)
    }

    /// Polls until the backup reaches one of `phases`; calls that fail on a busy machine are polled again.
    static func wait(_ client: AgentClient, _ id: String, for phases: Set<BackupPhase>, timeout: Duration = .seconds(300)) async throws -> BackupStatus {
        var last: BackupStatus?
        let reached = await eventually(timeout: timeout, every: .milliseconds(20)) {
            guard let status = try? await client.backupStatus(backupID: id) else { return false }
            last = status
            return phases.contains(status.phase)
        }
        let status = try #require(last, "no status of \(id) was ever read")
        #expect(reached, "\(id) stayed \(status.phase.rawValue), waiting for \(phases.map(\.rawValue).sorted())")
        return status
    }

    static func extract(_ archive: String, into directory: String) async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try await LoopFilesystem.run(["tar", "--extract", "--zstd", "--file=\(archive)", "--directory=\(directory)", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"])
    }

    @Test("prepare under a writer, then the window: the archive equals the tree at the stop, and nothing written after it", arguments: cases)
    func oracle(_ method: Case) async throws {
        try await LoopFilesystem.with(method.mkfs) { fs in
            let rig = try await Self.rig(fs, subvolume: method.subvolume)
            defer { rig.agent.stop() }
            let tree = TreeWriter(root: rig.data)
            try StagingCopyTests.seed(tree)

            let writer = SeededWriter(tree: tree, seed: 11)
            writer.start()
            let prepared = try await rig.client.prepareBackup(idempotencyKey: "prepare-1")
            let id = prepared.response.backupID
            #expect(prepared.created && prepared.response.phase == .preparing)
            let ready = try await Self.wait(rig.client, id, for: [.ready, .failed])
            #expect(ready.phase == .ready && ready.captureMethod == method.expected, "\(ready.error ?? "")")
            let writes = writer.stop()

            // The apps are stopped: this is the state the backup must hold.
            let stopped = try await TreeOracle.lines(rig.data, holes: false)
            let started = try await rig.client.startBackup(
                idempotencyKey: "backup-1", StartBackupRequest(quiesced: true, stacks: ["app"], prepareID: id))
            #expect(started.response.backupID == id)
            let released = try await Self.wait(rig.client, id, for: [.snapshotted, .done, .failed])
            #expect(released.phase == .snapshotted || released.phase == .done, "\(released.error ?? "")")

            // The apps run again while the archive is written.
            let after = SeededWriter(tree: tree, seed: 12)
            after.start()
            let done = try await rig.agent.waitForFinish(rig.client, backupID: id)
            let writesAfter = after.stop()
            #expect(done.phase == .done && done.consistency == .app, "\(done.error ?? "")")
            #expect(done.captureMethod == method.expected && done.captureWindowMs != nil && done.archiveMs != nil)

            let extracted = fs.mountPoint + "/extracted"
            try await Self.extract(rig.archive(id), into: extracted)
            let archived = try await TreeOracle.lines(extracted, holes: false)
            #expect(stopped == archived, "\(method.name):\n\(TreeOracle.difference(stopped, archived))")
            #expect(rig.leftoverCaptures().isEmpty, "\(rig.leftoverCaptures())")
            let mode = try FileManager.default.attributesOfItem(atPath: rig.captures)[.posixPermissions] as? Int
            #expect(mode == 0o700)
            print("[capture] \(method.name): \(writes) writes during prepare, \(writesAfter) after the window; window \(done.captureWindowMs ?? -1) ms, archive \(done.archiveMs ?? -1) ms")
        }
    }

    @Test("each adversarial change, made between prepare and the window, is in the archive exactly")
    func adversarialChanges() async throws {
        try await LoopFilesystem.with(["mkfs.ext4", "-q", "-F"]) { fs in
            let rig = try await Self.rig(fs, subvolume: false)
            defer { rig.agent.stop() }
            let tree = TreeWriter(root: rig.data)
            var wrong: [String] = []
            for (index, change) in StagingCopyTests.changes.enumerated() {
                for name in try FileManager.default.contentsOfDirectory(atPath: rig.data) {
                    try FileManager.default.removeItem(atPath: rig.data + "/" + name)
                }
                try StagingCopyTests.seed(tree)
                let id = try await rig.client.prepareBackup(idempotencyKey: "change-\(index)").response.backupID
                let ready = try await Self.wait(rig.client, id, for: [.ready, .failed])
                try #require(ready.phase == .ready, "\(change.name): \(ready.error ?? "")")
                try change.apply(tree)
                let stopped = try await TreeOracle.lines(rig.data, holes: false)
                _ = try await rig.client.startBackup(idempotencyKey: "change-\(index)-b", StartBackupRequest(quiesced: true, stacks: ["app"], prepareID: id))
                let done = try await rig.agent.waitForFinish(rig.client, backupID: id)
                let extracted = fs.mountPoint + "/extracted-\(index)"
                try await Self.extract(rig.archive(id), into: extracted)
                let archived = try await TreeOracle.lines(extracted, holes: false)
                // Each extraction fills its sparse file in: 15 of them would fill this file system.
                try FileManager.default.removeItem(atPath: extracted)
                if done.phase != .done || stopped != archived {
                    wrong.append("\(change.name) (\(done.phase.rawValue)):\n\(TreeOracle.difference(stopped, archived))")
                }
            }
            #expect(wrong.isEmpty, "\(wrong.joined(separator: "\n"))")
            print("[capture] \(StagingCopyTests.changes.count) adversarial changes through the agent: \(wrong.count) wrong")
        }
    }

    @Test("a negative control: the same oracle fails when the backup is taken live, with the writer still running")
    func negativeControl() async throws {
        try await LoopFilesystem.with(["mkfs.ext4", "-q", "-F"]) { fs in
            let rig = try await Self.rig(fs, subvolume: false)
            defer { rig.agent.stop() }
            let tree = TreeWriter(root: rig.data)
            try StagingCopyTests.seed(tree)
            let stopped = try await TreeOracle.lines(rig.data, holes: false)
            // The "apps" never stop: they write on through the archive, as a backup that skips the window would see.
            let writer = SeededWriter(tree: tree, seed: 13)
            writer.start()
            let started = try await rig.client.startBackup(idempotencyKey: "live", StartBackupRequest(quiesced: false, stacks: []))
            let done = try await rig.agent.waitForFinish(rig.client, backupID: started.response.backupID)
            _ = writer.stop()
            #expect(done.phase == .done && done.captureMethod == BackupCaptureMethod.none && done.captureReason != nil)
            let extracted = fs.mountPoint + "/extracted"
            try await Self.extract(rig.archive(started.response.backupID), into: extracted)
            #expect(try await TreeOracle.lines(extracted, holes: false) != stopped, "the oracle could not tell a live archive from the stopped tree")
        }
    }

    @Test("capture: off and a missing prepare both archive the live tree, and say so in capture_method and capture_reason")
    func withoutCapture() async throws {
        try await LoopFilesystem.with(["mkfs.ext4", "-q", "-F"]) { fs in
            let rig = try await Self.rig(fs, subvolume: false)
            defer { rig.agent.stop() }
            try StagingCopyTests.seed(TreeWriter(root: rig.data))
            let set = try await rig.agent.cli(["guest", "capture", "g", "off"])
            #expect(set.exitCode == 0, "\(set.standardError)")
            let prepared = try await rig.client.prepareBackup(idempotencyKey: "off").response.backupID
            let ready = try await Self.wait(rig.client, prepared, for: [.ready, .failed])
            #expect(ready.phase == .ready && ready.captureMethod == BackupCaptureMethod.none && ready.captureReason?.contains("off") == true)
            _ = try await rig.client.startBackup(idempotencyKey: "off-b", StartBackupRequest(quiesced: true, stacks: ["app"], prepareID: prepared))
            let done = try await rig.agent.waitForFinish(rig.client, backupID: prepared)
            #expect(done.phase == .done && done.captureMethod == BackupCaptureMethod.none && done.captureReason?.contains("off") == true)

            let bad = try await rig.agent.cli(["guest", "capture", "g", "fast"])
            #expect(bad.exitCode == 64 && bad.standardError.contains("auto, snapshot, reflink, copy, off"), "\(bad.standardError)")
        }
    }

    @Test("a data dir too large for the free space: prepare fails with the sizes and what to do, and leaves nothing")
    func noSpace() async throws {
        try await LoopFilesystem.with(["mkfs.ext4", "-q", "-F"]) { fs in
            let rig = try await Self.rig(fs, subvolume: false)
            defer { rig.agent.stop() }
            // Two thirds of a 1 GiB file system: a copy cannot fit beside it.
            for index in 0..<6 {
                try await LoopFilesystem.run(["dd", "if=/dev/urandom", "of=\(rig.data)/chunk-\(index)", "bs=1M", "count=110", "status=none"])
            }
            let prepared = try await rig.client.prepareBackup(idempotencyKey: "full").response.backupID
            let failed = try await Self.wait(rig.client, prepared, for: [.ready, .failed])
            #expect(failed.phase == .failed)
            let reason = failed.error ?? ""
            #expect(reason.contains("needs") && reason.contains("free") && reason.contains("guest capture NAME off"), "\(reason)")
            #expect(rig.leftoverCaptures().isEmpty)
            // The backup still happens, with the apps down for all of it, and says why.
            _ = try await rig.client.startBackup(idempotencyKey: "full-b", StartBackupRequest(quiesced: true, stacks: ["app"], prepareID: prepared))
            let backups = try await rig.client.backups()
            let live = try #require(backups.first)
            #expect(live.backupID != prepared && live.captureMethod == BackupCaptureMethod.none)
            #expect(live.captureReason?.hasPrefix("prepare failed: capture no_space") == true, "\(live.captureReason ?? "")")
            _ = try await rig.agent.waitForFinish(rig.client, backupID: live.backupID)
        }
    }

    /// Where a crash test kills the agent, and how it gets there.
    static let crashPoints = ["prepare.copying", "backup.window", "backup.snapshotted", "backup.archiving"]

    @Test("SIGKILL during prepare, before the window's pass, after snapshotted and during the archive: no capture survives, the op is failed, never done", arguments: crashPoints)
    func crash(_ point: String) async throws {
        try await LoopFilesystem.with(["mkfs.ext4", "-q", "-F"]) { fs in
            let rig = try await Self.rig(fs, subvolume: false, environment: ["FELHOM_AGENT_FAILPOINT": point])
            let tree = TreeWriter(root: rig.data)
            try StagingCopyTests.seed(tree)
            for index in 0..<200 { try tree.write("many/f\(index)", String(repeating: "x", count: 4096)) }
            let id = try await rig.client.prepareBackup(idempotencyKey: "crash").response.backupID
            if point != "prepare.copying" {
                _ = try await Self.wait(rig.client, id, for: [.ready])
                _ = try await rig.client.startBackup(idempotencyKey: "crash-b", StartBackupRequest(quiesced: true, stacks: ["app"], prepareID: id))
            }
            let reached = await eventually(timeout: .seconds(120), every: .milliseconds(50)) { rig.agent.log.contains("failpoint reached") }
            #expect(reached, "the agent never reached \(point)")
            #expect(!rig.leftoverCaptures().isEmpty, "the capture should exist at \(point)")
            rig.agent.stop(signal: SIGKILL)

            try await rig.agent.start()
            defer { rig.agent.stop() }
            let client = try rig.agent.client(token: rig.token)
            let status = try await client.backupStatus(backupID: id)
            let reason = point == "prepare.copying" ? "agent restarted while preparing the capture; nothing had been stopped" : "agent restarted during backup"
            #expect(status.phase == .failed && status.error == reason, "\(status)")
            #expect(rig.leftoverCaptures().isEmpty, "\(point): \(rig.leftoverCaptures())")
            #expect(!FileManager.default.fileExists(atPath: rig.archive(id)))
            #expect(rig.agent.log.contains("leftover capture removed"))
        }
    }
}
