import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// Mounting a tmpfs needs root; CI runs as root, so there the test always runs.
struct CanMount: TestTrait, SuiteTrait {
    static var available: Bool { getuid() == 0 || ProcessInfo.processInfo.environment["CI"] == "true" }
}

@Suite("Backups on disk: a full repository, and exact restores", .heavy)
struct AgentStorageTests {
    @Test("restore --to reproduces the data dir exactly, and refuses a non-empty directory")
    func exactRestore() async throws {
        let agent = try await AgentHarness()
        let data = agent.root.path + "/data"
        try agent.root.write("data/app/config.yaml", Array("port: 80\n".utf8))
        try agent.root.write("data/app/blob.bin", randomBytes(2_000_003))
        try agent.root.write("data/empty-file", [])
        try agent.root.write("data/db/" + String(repeating: "segment-", count: 15) + ".dat", randomBytes(4096))
        try FileManager.default.createDirectory(atPath: data + "/empty-dir", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: data + "/current", withDestinationPath: "app/config.yaml")
        let token = try await agent.addGuest("shop", dataDirectory: data)
        try await agent.start()
        let client = try agent.client(token: token)
        let id = try await client.startBackup(idempotencyKey: "k", StartBackupRequest(quiesced: true, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: id).phase == .done)

        let target = agent.root.path + "/restored"
        let restored = try await agent.cli(["restore", id, "--to", target, "--json"])
        #expect(restored.exitCode == 0, "\(restored.standardError)")
        #expect(try await TreeFingerprint.of(target) == (try await TreeFingerprint.of(data)))

        let refused = try await agent.cli(["restore", id, "--to", target])
        #expect(refused.exitCode == 1 && refused.standardError.contains("not empty"))
        #expect(try await TreeFingerprint.of(target) == (try await TreeFingerprint.of(data)))
    }

    @Test("a full repository fails the backup cleanly and keeps the earlier ones", .enabled(if: CanMount.available))
    func diskFull() async throws {
        let outer = try TemporaryDirectory("felhom-tmpfs")
        let mountPoint = outer.path + "/repository"
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mounted = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "mount", arguments: ["-t", "tmpfs", "-o", "size=8m", "felhom-test", mountPoint], timeout: .seconds(30)))
        try #require(mounted.exitCode == 0, "mount tmpfs: \(mounted.standardError)")
        defer { _ = umount2(mountPoint, Int32(MNT_DETACH)) }

        let agent = try await AgentHarness(repository: mountPoint)
        let data = agent.root.path + "/data"
        try agent.root.write("data/small.bin", randomBytes(1_000_000))
        let token = try await agent.addGuest("tiny", dataDirectory: data)
        try await agent.start()
        let client = try agent.client(token: token)
        let first = try await client.startBackup(idempotencyKey: "fits", StartBackupRequest(quiesced: true, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: first).phase == .done)

        try agent.root.write("data/large.bin", randomBytes(20_000_000))
        let second = try await client.startBackup(idempotencyKey: "overflows", StartBackupRequest(quiesced: true, stacks: [])).response.backupID
        let failed = try await agent.waitForFinish(client, backupID: second)
        #expect(failed.phase == .failed)
        #expect(failed.error?.contains("file system is full") == true, "\(failed.error ?? "")")

        let files = try FileManager.default.contentsOfDirectory(atPath: mountPoint + "/tiny").sorted()
        #expect(files == ["\(first).manifest.json", "\(first).tar.zst"])
        #expect(try await client.backups().map(\.backupID) == [first])
        let restored = try await agent.cli(["restore", first, "--to", agent.root.path + "/restored"])
        #expect(restored.exitCode == 0, "\(restored.standardError)")
    }
}
