import AgentAPI
import Foundation
import DockerTesting
import ProxmoxFake
import Stacks
import TestSupport
import Testing

/// Whole-guest rollbacks and restore tests through the real agent, against the contract fake.
@Suite("Proxmox rollbacks and restore tests, and SIGKILL at each of their steps", .serialized, .heavy)
struct ProxmoxRollbackTests {
    /// A guest with one backup of `before`, whose rootfs then changed to `after`.
    static func guestWithBackup(_ scene: ProxmoxScene) async throws -> (client: AgentClient, backupID: String, rootfs: String) {
        let before = ["srv/app/state": "v1", "etc/hostname": "shop"]
        let (token, rootfs) = try await scene.addGuest("shop", vmid: 101, files: before)
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)
        let backup = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "base"))
        guard backup.phase == .done else { throw HarnessError("the base backup failed: \(backup.error ?? "")") }
        try Data("v2".utf8).write(to: URL(fileURLWithPath: rootfs + "/srv/app/state"))
        try Data("new".utf8).write(to: URL(fileURLWithPath: rootfs + "/srv/app/added"))
        return (client, backup.backupID, rootfs)
    }

    static let backedUpTree = ["srv/app/state": "v1", "etc/hostname": "shop"]
    static let changedTree = ["srv/app/state": "v2", "srv/app/added": "new", "etc/hostname": "shop"]

    static func waitForRollback(_ client: AgentClient, opID: String) async throws -> RollbackStatus {
        var status = try await client.rollbackStatus(opID: opID)
        _ = await eventually(timeout: .seconds(180), every: .milliseconds(200)) {
            if let current = try? await client.rollbackStatus(opID: opID) { status = current }
            return status.phase == .done || status.phase == .failed
        }
        return status
    }

    @Test("a rollback restores the backup over the same vmid and starts the guest; a pre-rollback backup is listed")
    func rollback() async throws {
        let scene = try await ProxmoxScene()
        let (client, backupID, _) = try await Self.guestWithBackup(scene)
        let preflight = try await client.rollbackPreflight(backupID: backupID)
        #expect(preflight.dataBytes > 0)
        let started = try await client.startRollback(backupID: backupID, idempotencyKey: "roll")
        let status = try await Self.waitForRollback(client, opID: started.opID)
        #expect(status.phase == .done, "\(status.error ?? "")")
        let guest = try #require(scene.fake.guest(101))
        #expect(ProxmoxScene.tree(of: guest.rootfs) == Self.backedUpTree)
        #expect(guest.running && guest.lock == nil)
        let backups = try await client.backups()
        #expect(backups.count == 2, "the pre-rollback backup is listed: \(backups.map(\.backupID))")
        #expect(scene.fake.tasks.contains { $0.type == "vzrestore" && $0.exitStatus == "OK" })
        await scene.stop()
    }

    @Test("SIGKILL at each rollback step: the next start finishes it or leaves the guest as it was, running")
    func killedRollback() async throws {
        let cases: [(point: String, tree: [String: String], state: RollbackPhase)] = [
            ("proxmox.rollback.stopping", Self.changedTree, .failed),
            ("proxmox.rollback.restoring", Self.changedTree, .failed),
            ("proxmox.rollback.restore-started", Self.backedUpTree, .done),
            ("proxmox.rollback.starting", Self.backedUpTree, .done),
        ]
        for (point, tree, state) in cases {
            let scene = try await ProxmoxScene()
            scene.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .milliseconds(300))
            let (client, backupID, _) = try await Self.guestWithBackup(scene)
            scene.agent.stop()
            try await scene.agent.start(environment: ["FELHOM_AGENT_FAILPOINT": point])
            var current = try scene.agent.client(token: client.configuration.token)
            let started = try await current.startRollback(backupID: backupID, idempotencyKey: "roll")
            #expect(await scene.agent.running?.waitForLine("failpoint reached", timeout: .seconds(180)) == true, "\(point)")
            scene.agent.stop(signal: SIGKILL)

            try await scene.agent.start()
            current = try scene.agent.client(token: client.configuration.token)
            let status = try await Self.waitForRollback(current, opID: started.opID)
            #expect(status.phase == state, "\(point): \(status.error ?? "")")
            let guest = try #require(scene.fake.guest(101), "\(point): the guest is gone")
            #expect(ProxmoxScene.tree(of: guest.rootfs) == tree, "\(point)")
            #expect(guest.running, "\(point): the guest was left stopped")
            await scene.stop()
        }
    }

    @Test("a restore that fails half way puts the guest back from the pre-rollback backup")
    func failedRestore() async throws {
        let scene = try await ProxmoxScene()
        let (client, backupID, _) = try await Self.guestWithBackup(scene)
        scene.fake.inject(.restoreFails("unexpected end of archive"))
        let started = try await client.startRollback(backupID: backupID, idempotencyKey: "roll")
        let status = try await Self.waitForRollback(client, opID: started.opID)
        #expect(status.phase == .failed && status.error?.contains("pre-rollback backup") == true, "\(status.error ?? "")")
        let guest = try #require(scene.fake.guest(101))
        #expect(ProxmoxScene.tree(of: guest.rootfs) == Self.changedTree, "the guest holds what it held before the rollback")
        #expect(guest.running)
        await scene.stop()
    }

    @Test("a restore test restores into a scratch container, probes it with pct exec, and destroys it; a flipped byte fails it")
    func restoreTests() async throws {
        let scene = try await ProxmoxScene()
        let (_, backupID, _) = try await Self.guestWithBackup(scene)
        scene.agent.stop()
        // --config before the `--` that starts the command.
        let probe = try await AgentHarness.cli(["guest", "probe", "shop", "--config", scene.agent.configPath, "--expect", "v1", "--", "cat", "srv/app/state"])
        #expect(probe.exitCode == 0, "\(probe.standardError)")

        let passed = try await scene.agent.cli(["restore-test", "run", "shop", "--json"])
        #expect(passed.exitCode == 0, "\(passed.standardOutput) \(passed.standardError)")
        #expect(passed.standardOutput.contains("\"passed\""))
        #expect(passed.standardOutput.contains("probe: cat srv/app/state"), "the probe did not run: \(passed.standardOutput)")
        #expect(scene.fake.guest(9900) == nil && scene.fake.guest(9901) == nil, "a scratch container was left")
        let restore = try #require(scene.fake.tasks.last { $0.type == "vzrestore" })
        #expect(restore.id == "9900")

        let archive = try #require(scene.fake.backups.first { $0.notes?.contains(backupID) == true })
        let handle = try FileHandle(forUpdatingAtPath: archive.path).unwrap()
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        let byte = try handle.read(upToCount: 1)?.first ?? 0
        try handle.seek(toOffset: size / 2)
        handle.write(Data([byte ^ 0xFF]))
        try handle.close()
        let failed = try await scene.agent.cli(["restore-test", "run", "shop", "--json"])
        #expect(failed.exitCode == 1)
        let result = try JSONSerialization.jsonObject(with: Data(failed.standardOutput.utf8)) as? [String: Any]
        #expect(result?["result"] as? String == "failed")
        let restoreCheck = (result?["checks"] as? [[String: Any]])?.first { $0["name"] as? String == "restore" }
        #expect(restoreCheck?["ok"] as? Bool == false, "the flipped byte failed \(String(describing: result?["checks"])), not the restore")
        #expect(scene.fake.guest(9900) == nil && scene.fake.guest(9901) == nil, "a scratch container was left")
        await scene.stop()
    }

    @Test("a restore test killed with its scratch container running leaves nothing after the next start")
    func killedRestoreTest() async throws {
        let scene = try await ProxmoxScene()
        _ = try await Self.guestWithBackup(scene)
        scene.agent.stop()
        let log = scene.directory.path + "/restore-test.log"
        let run = try BackgroundProcess(
            executable: AgentHarness.binary, arguments: ["restore-test", "run", "shop", "--config", scene.agent.configPath],
            logPath: log, environment: ["FELHOM_AGENT_FAILPOINT": "proxmox.restore-test.restored"])
        #expect(await run.waitForLine("failpoint reached", timeout: .seconds(180)))
        #expect(scene.fake.guest(9900) != nil)
        run.stop(signal: SIGKILL)

        try await scene.agent.start()
        #expect(await eventually(timeout: .seconds(60)) { scene.fake.guest(9900) == nil }, "the sweep left the scratch container")
        #expect(scene.fake.guest(101)?.running == true)
        await scene.stop()
    }
}

extension Optional {
    func unwrap() throws -> Wrapped {
        guard let self else { throw HarnessError("nothing there") }
        return self
    }
}
