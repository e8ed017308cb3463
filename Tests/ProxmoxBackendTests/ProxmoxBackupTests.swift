import AgentAPI
import Foundation
import DockerTesting
import ProxmoxFake
import Stacks
import TestSupport
import Testing

/// Backups through the real agent's Proxmox backend, against the contract fake over real HTTPS.
@Suite("Proxmox backups: vzdump through the API, the faults it must survive", .serialized, .heavy)
struct ProxmoxBackupTests {
    @Test("the guest may resume when the task log shows the snapshot, before vzdump ends; the backup is app-consistent and its archive found by its notes")
    func snapshotTimeResume() async throws {
        let scene = try await ProxmoxScene()
        scene.fake.setTiming(snapshotAfter: .milliseconds(300), archiveFor: .seconds(4))
        let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["srv/app/state": "at the stop"])
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)

        let id = try await scene.backUp(client, key: "first")
        var vzdumpRunningAtSnapshot = false
        let snapshotted = await eventually(timeout: .seconds(120), every: .milliseconds(50)) {
            guard let status = try? await client.backupStatus(backupID: id) else { return false }
            if status.phase == .snapshotted {
                vzdumpRunningAtSnapshot = scene.fake.tasks.contains { $0.type == "vzdump" && $0.running }
                return true
            }
            return status.phase == .done || status.phase == .failed
        }
        #expect(snapshotted)
        #expect(vzdumpRunningAtSnapshot, "snapshotted came only at the end of the task")
        let done = try await scene.agent.waitForFinish(client, backupID: id)
        #expect(done.phase == .done, "\(done.error ?? "")")
        #expect(done.consistency == .app && done.captureMethod == .snapshot)
        #expect(done.captureWindowMs != nil)
        let archives = scene.fake.backups.filter { $0.notes?.contains("backup_id=\(id)") == true }
        #expect(archives.count == 1)
        #expect(scene.fake.vzdumpStarts(vmid: 101) == 1)
        let listed = try await scene.agent.cli(["backups", "--json"])
        #expect(listed.standardOutput.contains(archives.first?.volid ?? "no archive"), "the journal records the volid")
        await scene.stop()
    }

    @Test("596 on the POST: the started task is found and followed, and no second vzdump starts")
    func lostAnswer() async throws {
        let scene = try await ProxmoxScene()
        let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["a": "1"])
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)

        scene.fake.inject(.answer(status: 596, method: "POST", pathSuffix: "/vzdump", times: 1, afterHandling: true))
        let first = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "lost"))
        #expect(first.phase == .done, "\(first.error ?? "")")
        #expect(scene.fake.vzdumpStarts(vmid: 101) == 1, "a lost answer started a second vzdump")

        // Refused before it ran: the task list shows none, so it is asked again, once.
        scene.fake.inject(.answer(status: 596, method: "POST", pathSuffix: "/vzdump", times: 2, afterHandling: false))
        let second = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "busy"))
        #expect(second.phase == .done, "\(second.error ?? "")")
        #expect(scene.fake.vzdumpStarts(vmid: 101) == 2)
        await scene.stop()
    }

    @Test("the API is trusted through its CA file instead of a pin")
    func caFileTrust() async throws {
        let scene = try await ProxmoxScene(trustCAFile: true)
        let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["a": "1"])
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)
        let done = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "ca"))
        #expect(done.phase == .done, "\(done.error ?? "")")
        await scene.stop()
    }

    @Test("a stale backup lock with no vzdump running is cleared with pct unlock, and the backup runs")
    func staleLock() async throws {
        let scene = try await ProxmoxScene()
        let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["a": "1"])
        scene.fake.setLock(101, "backup")
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)
        let done = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "locked"))
        #expect(done.phase == .done, "\(done.error ?? "")")
        #expect(scene.fake.guest(101)?.lock == nil)
        #expect(scene.agent.log.contains("stale vzdump lock cleared"))

        // While another guest's vzdump runs, a backup lock is not stale: the prepare refuses, and nothing is cleared.
        let (other, _) = try await scene.addGuest("other", vmid: 102, files: ["b": "2"])
        let otherClient = try scene.agent.client(token: other)
        scene.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .seconds(60))
        let running = try await scene.backUp(otherClient, key: "long")
        #expect(await eventually { (try? await otherClient.backupStatus(backupID: running))?.phase == .snapshotted })
        scene.fake.setLock(101, "backup")
        let prepared = try await client.prepareBackup(idempotencyKey: "refused")
        let refused = try await scene.agent.waitForFinish(client, backupID: prepared.response.backupID)
        #expect(refused.phase == .failed && refused.error?.contains("while vzdump task") == true, "\(refused.error ?? "")")
        #expect(scene.fake.guest(101)?.lock == "backup", "a lock held while a vzdump runs was cleared")
        scene.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .milliseconds(300))
        #expect(try await scene.agent.waitForFinish(otherClient, backupID: running).phase == .done)
        await scene.stop()
    }

    @Test("WARNINGS: 1 is a success; job errors is a failure with vzdump's reason; the node's lock is waited for")
    func exitStatuses() async throws {
        let scene = try await ProxmoxScene()
        let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["a": "1"])
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)

        scene.fake.inject(.vzdumpExit("WARNINGS: 1"))
        let warned = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "warn"))
        #expect(warned.phase == .done, "\(warned.error ?? "")")

        scene.fake.inject(.vzdumpJobError(reason: "CT is locked (snapshot)"))
        let failed = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "errors"))
        #expect(failed.phase == .failed)
        #expect(failed.error?.contains("job errors") == true && failed.error?.contains("CT is locked (snapshot)") == true, "\(failed.error ?? "")")

        scene.fake.inject(.globalLock(seconds: 30))
        let queued = try await scene.backUp(client, key: "queued")
        var waiting: String?
        _ = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
            waiting = try? await client.backupStatus(backupID: queued).waitingFor
            return waiting != nil
        }
        #expect(waiting?.contains("vzdump lock") == true, "the wait for the node's lock is not reported")
        scene.fake.clearFaults()
        let waited = try await scene.agent.waitForFinish(client, backupID: queued)
        #expect(waited.waitingFor == nil)
        #expect(waited.phase == .done, "\(waited.error ?? "")")
        #expect(scene.agent.log.contains("vzdump waits for the node's vzdump lock"))
        #expect(scene.fake.vzdumpStarts(vmid: 101) == 3)
        await scene.stop()
    }

    @Test("a vzdump worker killed mid-task fails the op truthfully, and its lock and snapshot are cleaned up")
    func killedWorker() async throws {
        let scene = try await ProxmoxScene()
        scene.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .seconds(30))
        let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["a": "1"])
        try await scene.agent.start()
        let client = try scene.agent.client(token: token)
        let id = try await scene.backUp(client, key: "killed")
        let snapshotted = await eventually(timeout: .seconds(120)) { (try? await client.backupStatus(backupID: id))?.phase == .snapshotted }
        #expect(snapshotted)
        let upid = try #require(scene.fake.tasks.first { $0.type == "vzdump" && $0.running }?.upid)
        scene.fake.killTask(upid)
        let status = try await scene.agent.waitForFinish(client, backupID: id)
        #expect(status.phase == .failed && status.error?.contains("unexpected status") == true, "\(status.error ?? "")")
        #expect(scene.fake.guest(101)?.lock == nil, "the stale lock was left")
        #expect(scene.fake.guest(101)?.snapshots.contains("vzdump") == false, "the vzdump snapshot was left")

        scene.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .milliseconds(300))
        let again = try await scene.agent.waitForFinish(client, backupID: try await scene.backUp(client, key: "again"))
        #expect(again.phase == .done, "\(again.error ?? "")")
        await scene.stop()
    }

    @Test("the agent SIGKILLed mid-task follows the task again after its restart; no second vzdump starts")
    func agentKilled() async throws {
        for point in ["proxmox.vzdump-started", "after snapshotted", "ended while the agent was down"] {
            let scene = try await ProxmoxScene()
            scene.fake.setTiming(snapshotAfter: .seconds(1), archiveFor: .seconds(6))
            let (token, _) = try await scene.addGuest("shop", vmid: 101, files: ["a": "1"])
            let holds = point.hasPrefix("proxmox.")
            try await scene.agent.start(environment: holds ? ["FELHOM_AGENT_FAILPOINT": point] : [:])
            var client = try scene.agent.client(token: token)
            let id = try await scene.backUp(client, key: "crash")
            if holds {
                #expect(await scene.agent.running?.waitForLine("failpoint reached", timeout: .seconds(120)) == true)
            } else {
                #expect(await eventually(timeout: .seconds(120)) { (try? await client.backupStatus(backupID: id))?.phase == .snapshotted })
            }
            scene.agent.stop(signal: SIGKILL)
            #expect(scene.fake.tasks.contains { $0.type == "vzdump" && $0.running }, "\(point): the task should outlive the agent")
            if point.hasPrefix("ended") {
                #expect(await eventually(timeout: .seconds(120)) { !scene.fake.tasks.contains { $0.type == "vzdump" && $0.running } })
            }

            try await scene.agent.start()
            client = try scene.agent.client(token: token)
            let status = try await scene.agent.waitForFinish(client, backupID: id)
            #expect(status.phase == .done, "\(point): \(status.error ?? "")")
            #expect(scene.fake.vzdumpStarts(vmid: 101) == 1, "\(point): a second vzdump was started")
            await scene.stop()
        }
    }

    @Test("a token for one guest can neither back up, roll back nor read another guest's backups (404)")
    func crossGuest() async throws {
        let scene = try await ProxmoxScene()
        let (first, _) = try await scene.addGuest("one", vmid: 101, files: ["a": "1"])
        let (second, _) = try await scene.addGuest("two", vmid: 102, files: ["b": "2"])
        try await scene.agent.start()
        let one = try scene.agent.client(token: first)
        let two = try scene.agent.client(token: second)
        let theirs = try await scene.agent.waitForFinish(two, backupID: try await scene.backUp(two, key: "theirs"))
        #expect(theirs.phase == .done)

        await #expect { _ = try await one.backupStatus(backupID: theirs.backupID) } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        await #expect { _ = try await one.startRollback(backupID: theirs.backupID, idempotencyKey: "steal") } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        await #expect { _ = try await one.rollbackPreflight(backupID: theirs.backupID) } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        #expect(try await one.backups().isEmpty)
        let mine = try await scene.agent.waitForFinish(one, backupID: try await scene.backUp(one, key: "mine"))
        #expect(mine.phase == .done)
        #expect(scene.fake.vzdumpStarts(vmid: 102) == 1 && scene.fake.vzdumpStarts(vmid: 101) == 1)
        #expect(scene.fake.guest(102)?.running == true)
        await scene.stop()
    }
}
