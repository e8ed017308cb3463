import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("One agent per state dir", .heavy)
struct AgentStateLockTests {
    @Test("a second `run` during a large backup is refused at once, naming the first's pid; the backup finishes and restores exactly")
    func secondRunRefused() async throws {
        let agent = try await AgentHarness()
        let data = agent.root.path + "/data"
        try AgentCrashTests.makeLargeDataDirectory(data)
        let token = try await agent.addGuest("big", dataDirectory: data)
        try await agent.start()
        let client = try agent.client(token: token)
        let id = try await client.startBackup(idempotencyKey: "first", StartBackupRequest(quiesced: true, stacks: [])).response.backupID
        let partial = "\(agent.repository)/big/\(id).tar.zst.partial"
        #expect(await eventually(every: .milliseconds(5)) { FileManager.default.fileExists(atPath: partial) }, "the backup never began writing")

        // The harness listens on port 0, so only the lock stands between this process and the startup sweep.
        let second = try await agent.cli(["run"])
        let firstPID = try #require(agent.processIdentifier)
        #expect(second.exitCode != 0)
        #expect(second.standardError.contains("another felhom-agent (pid \(firstPID))"), "\(second.standardError)")
        #expect(FileManager.default.fileExists(atPath: partial) || FileManager.default.fileExists(atPath: "\(agent.repository)/big/\(id).tar.zst"),
                "the refused process removed the live backup's archive")

        let done = try await agent.waitForFinish(client, backupID: id)
        #expect(done.phase == .done, "\(done)")
        let target = agent.root.path + "/restored"
        let restored = try await agent.cli(["restore", id, "--to", target])
        #expect(restored.exitCode == 0, "\(restored.standardError)")
        #expect(try await TreeFingerprint.of(target) == (try await TreeFingerprint.of(data)))
    }

    @Test("the lock goes with its holder: after SIGKILL the next `run` starts")
    func lockReleasedOnKill() async throws {
        let agent = try await AgentHarness()
        try await agent.start()
        agent.stop(signal: SIGKILL)
        try await agent.start()
        #expect(agent.running?.isRunning == true, "\(agent.log)")
    }
}
