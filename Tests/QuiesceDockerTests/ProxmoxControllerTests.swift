import AgentAPI
import DockerTesting
import Foundation
import ProxmoxFake
import Stacks
import TestSupport
import Testing

/// The real controller against the real agent with the Proxmox backend, over the contract fake.
/// The controller's state dir lives in the fake guest's rootfs, as it does in a real guest, so its
/// marker is inside the backup.
@Suite("The quiesce loop and a whole-guest rollback through the Proxmox backend (needs docker)", .needsDocker)
struct ProxmoxControllerTests {
    @Test("apps restart when vzdump's log shows the snapshot; after a rollback, the marker in the restored guest brings its stacks back")
    func quiescedBackupAndRollback() async throws {
        try await withFixtureStacks(["webapp", "traefik"]) { fx in
            for fixture in ["webapp", "traefik"] { try await Docker.up(fx, fixture) }
            let scene = try await ProxmoxScene()
            // The archive takes 20 s after the snapshot: a cycle that waited for it would keep the apps down that long.
            scene.fake.setTiming(snapshotAfter: .milliseconds(500), archiveFor: .seconds(20))
            let (token, rootfs) = try await scene.addGuest("guest", vmid: 101, files: ["etc/hostname": "guest"])
            let stateInGuest = rootfs + "/var/lib/felhom-controller"
            try FileManager.default.createDirectory(atPath: stateInGuest, withIntermediateDirectories: true)
            try? FileManager.default.removeItem(atPath: fx.stateDirectory)
            try FileManager.default.createSymbolicLink(atPath: fx.stateDirectory, withDestinationPath: stateInGuest)
            try await scene.agent.start()

            let controller = try ControllerHarness(
                fixtures: fx, agentURL: scene.agent.baseURL, pin: scene.agent.pin, guestToken: token, maxQuiesceSeconds: 600)
            let (_, cycle) = try await controller.firstCycle(timeout: .seconds(300))
            #expect(cycle["outcome"] as? String == "succeeded", "\(cycle)")
            #expect(cycle["consistency"] as? String == "app")
            let downtime = (cycle["downtime_ms"] as? [String: Int])?[fx.name("webapp")] ?? .max
            #expect(downtime < 20_000, "webapp was down \(downtime) ms: it waited for the end of vzdump, not for the snapshot")
            let backupID = try #require(cycle["backup_id"] as? String)
            let statuses = try await controller.statuses()
            #expect(statuses[fx.name("webapp")] == "running")

            let client = try scene.agent.client(token: token)
            let done = try await scene.agent.waitForFinish(client, backupID: backupID)
            #expect(done.phase == .done && done.consistency == .app, "\(done.error ?? "")")
            let archive = try #require(scene.fake.backups.first { $0.notes?.contains(backupID) == true })
            let listing = try await SubprocessCommandRunner().run(DockerCommand(
                executable: "tar", arguments: ["--zstd", "-tf", archive.path], timeout: .seconds(120)))
            #expect(listing.standardOutput.contains("var/lib/felhom-controller/quiesce.marker"), "the marker is not in the backup")

            let rollback = try await client.startRollback(backupID: backupID, idempotencyKey: "roll")
            let finished = await eventually(timeout: .seconds(300), every: .milliseconds(200)) {
                let phase = (try? await client.rollbackStatus(opID: rollback.opID))?.phase
                return phase == .done || phase == .failed
            }
            #expect(finished)
            #expect(try await client.rollbackStatus(opID: rollback.opID).phase == .done)

            // The guest boots from the restored rootfs with its apps down; its controller finds the marker.
            let restored = try #require(scene.fake.guest(101)).rootfs + "/var/lib/felhom-controller"
            #expect(FileManager.default.fileExists(atPath: restored + "/quiesce.marker"), "the restored guest holds no marker")
            try await Docker.stop(fx, "webapp")
            try FileManager.default.removeItem(atPath: fx.stateDirectory)
            try FileManager.default.createSymbolicLink(atPath: fx.stateDirectory, withDestinationPath: restored)
            let boot = try await controller.start()
            #expect(await eventually(timeout: .seconds(180)) { (try? await controller.statuses())?[fx.name("webapp")] == "running" }, "\(boot.log)")
            #expect(await eventually(timeout: .seconds(60)) { !FileManager.default.fileExists(atPath: restored + "/quiesce.marker") })
            boot.stop()
            await scene.stop()
        }
    }
}
