import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("The agent survives SIGKILL in the middle of a backup", .heavy)
struct AgentCrashTests {
    /// 500 MB of incompressible data in 50 files, so the backup is still running when it is killed.
    static func makeLargeDataDirectory(_ path: String) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for index in 0..<50 {
            try Data(randomBytes(10_000_000)).write(to: URL(fileURLWithPath: "\(path)/chunk-\(index).bin"))
        }
    }

    static func partialFiles(in directory: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".partial") }
    }

    @Test("after SIGKILL and a restart the op is failed, no partial is left, it is not listed, and a new backup succeeds")
    func killDuringBackup() async throws {
        let agent = try await AgentHarness()
        let dataDirectory = agent.root.path + "/data"
        try Self.makeLargeDataDirectory(dataDirectory)
        let token = try await agent.addGuest("big", dataDirectory: dataDirectory)
        try await agent.start()
        var client = try agent.client(token: token)

        let started = try await client.startBackup(idempotencyKey: "before-crash", StartBackupRequest(quiesced: true, stacks: ["db"]))
        let id = started.response.backupID
        // A second backup of the same guest must wait for the first.
        await #expect { _ = try await client.startBackup(idempotencyKey: "while-running", StartBackupRequest(quiesced: true, stacks: [])) }
            throws: { ($0 as? AgentClientError)?.httpStatus == 409 }
        let guestDirectory = agent.repository + "/big"
        let partial = "\(guestDirectory)/\(id).tar.zst.partial"
        // Watched on the file system: cheaper than a call, so nothing under load makes us miss the window.
        let writing = await eventually(timeout: .seconds(60), every: .milliseconds(5)) {
            ((try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? NSNumber)?.int64Value ?? 0) > 0
        }
        #expect(writing, "the partial archive never appeared")
        let progressed = await eventually(timeout: .seconds(120), every: .milliseconds(20)) {
            // A call that times out on a busy machine is one more poll, not a failed test.
            guard let status = try? await client.backupStatus(backupID: id) else { return false }
            return status.phase == .running && status.bytesDone > 0
        }
        #expect(progressed, "bytes_done never advanced while the backup ran")
        #expect(Self.partialFiles(in: guestDirectory) == ["\(id).tar.zst.partial"])
        agent.stop(signal: SIGKILL)

        try await agent.start()
        client = try agent.client(token: token)
        let status = try await client.backupStatus(backupID: id)
        #expect(status.phase == .failed && status.error == "agent restarted during backup")
        #expect(Self.partialFiles(in: guestDirectory).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(guestDirectory)/\(id).manifest.json"))
        #expect(try await client.backups().isEmpty)

        let listed = try await agent.cli(["backups", "--json"])
        #expect(listed.exitCode == 0 && !listed.standardOutput.contains(id))
        let ops = try await agent.cli(["ops", "--json"])
        let journal = try JSONSerialization.jsonObject(with: Data(ops.standardOutput.utf8)) as? [[String: Any]]
        let op = try #require(journal?.first { $0["id"] as? String == id })
        #expect(op["state"] as? String == "failed" && op["error"] as? String == "agent restarted during backup")

        let retried = try await client.startBackup(idempotencyKey: "after-crash", StartBackupRequest(quiesced: true, stacks: ["db"]))
        let done = try await agent.waitForFinish(client, backupID: retried.response.backupID)
        #expect(done.phase == .done && done.bytesDone == 500_000_000)
        #expect(try await client.backups().map(\.backupID) == [retried.response.backupID])
        // The key of the killed backup still names it: it is never run twice.
        let replay = try await client.startBackup(idempotencyKey: "before-crash", StartBackupRequest(quiesced: true, stacks: ["db"]))
        #expect(replay.response.backupID == id && !replay.created && replay.response.phase == .failed)
    }
}
