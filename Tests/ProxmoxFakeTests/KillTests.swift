import Foundation
import ProxmoxFake
import Stacks
import Testing
import TestSupport

/// What a dead vzdump leaves behind, and the host-side `pct` that clears it.
@Suite("Proxmox fake: killed tasks and pct")
struct KillTests {
    @Test("a SIGKILLed vzdump leaves lock backup, the vzdump snapshot and a .tar.dat; pct unlock clears the lock")
    func killLeavesLock() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8)])
            node.fake.setTiming(snapshotAfter: .milliseconds(100), archiveFor: .seconds(600))
            let upid = try await node.startBackup(101)
            let archiving = await eventually(timeout: .seconds(60), every: .milliseconds(20)) {
                node.fake.tasks.first { $0.upid == upid }?.log.contains { $0.hasPrefix("INFO: creating vzdump archive") } == true
                    && (try? FileManager.default.contentsOfDirectory(atPath: node.directory.path + "/node/dump"))?.contains { $0.hasSuffix(".tar.dat") } == true
            }
            #expect(archiving)
            node.fake.killTask(upid)

            let status = try await node.client.api("GET", "/nodes/pve1/tasks/\(upid)/status").object
            #expect(status["status"] as? String == "stopped")
            #expect(status["exitstatus"] as? String == "unexpected status")
            let log = try await node.client.taskLog(upid)
            #expect(!log.contains { $0.hasPrefix("TASK ") })
            let current = try await node.client.api("GET", "/nodes/pve1/lxc/101/status/current").object
            #expect(current["lock"] as? String == "backup")
            let snapshots = try await node.client.api("GET", "/nodes/pve1/lxc/101/snapshot").objects.compactMap { $0["name"] as? String }
            #expect(snapshots.contains("vzdump"))
            let dump = try FileManager.default.contentsOfDirectory(atPath: node.directory.path + "/node/dump")
            #expect(dump.contains { $0.hasSuffix(".tar.dat") })
            let listed = try await node.client.api("GET", "/nodes/pve1/storage/local/content", [("content", "backup")]).objects
            #expect(listed.isEmpty)
            // Nothing is active any more: the agent's cue that the lock is stale.
            let active = try await node.client.api("GET", "/nodes/pve1/tasks", [("source", "active")]).objects
            #expect(active.isEmpty)

            // Every later backup of that CT fails on the lock until someone runs pct unlock.
            let blocked = try await node.startBackup(101)
            #expect(try await node.client.waitForTask(blocked)["exitstatus"] as? String == "job errors")

            let unlock = try await node.pct(["unlock", "101"])
            #expect(unlock.exitCode == 0)
            #expect(unlock.standardOutput.isEmpty && unlock.standardError.isEmpty)
            #expect(node.fake.guest(101)?.lock == nil)
            let twice = try await node.pct(["unlock", "101"])
            #expect(twice.exitCode == 255)
            #expect(twice.standardError == "no lock found trying to remove any lock\n")

            // The next run force-removes the old snapshot.
            node.fake.setTiming(snapshotAfter: .milliseconds(50), archiveFor: .milliseconds(50))
            let next = try await node.startBackup(101)
            #expect(try await node.client.waitForTask(next)["exitstatus"] as? String == "OK")
            #expect(try await node.client.taskLog(next).contains("INFO: found old vzdump snapshot (force removal)"))
            #expect(node.fake.guest(101)?.snapshots == [])
        }
    }

    @Test("stopping a task through the API ends it 'interrupted by signal' after its cleanup")
    func stopTask() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8)])
            node.fake.setTiming(snapshotAfter: .milliseconds(100), archiveFor: .seconds(600))
            let upid = try await node.startBackup(101)
            _ = await eventually(timeout: .seconds(60), every: .milliseconds(20)) {
                node.fake.tasks.first { $0.upid == upid }?.log.contains { $0.hasPrefix("INFO: creating vzdump archive") } == true
            }
            let stop = try await node.client.api("DELETE", "/nodes/pve1/tasks/\(upid)")
            #expect(stop.status == 200)
            let status = try await node.client.waitForTask(upid)
            #expect(status["exitstatus"] as? String == "interrupted by signal")
            let log = try await node.client.taskLog(upid)
            #expect(log.contains("ERROR: Backup of VM 101 failed - interrupted by signal"))
            #expect(log.last == "TASK ERROR: interrupted by signal")
            #expect(node.fake.guest(101)?.lock == nil)
            #expect(node.fake.guest(101)?.snapshots == [])
            #expect(try FileManager.default.contentsOfDirectory(atPath: node.directory.path + "/node/dump") == [])
        }
    }

    @Test("pct status and pct exec: exec runs in the guest's root directory and refuses a stopped guest")
    func pctExec() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8)])
            let status = try await node.pct(["status", "101"])
            #expect(status.standardOutput == "status: running\n")
            let exec = try await node.pct(["exec", "101", "--", "cat", "etc/hostname"])
            #expect(exec.exitCode == 0)
            #expect(exec.standardOutput == "web\n")
            let failing = try await node.pct(["exec", "101", "--", "sh", "-c", "echo oops >&2; exit 3"])
            #expect(failing.exitCode == 3)
            #expect(failing.standardError == "oops\n")
            node.fake.setRunning(101, false)
            let stopped = try await node.pct(["exec", "101", "--", "true"])
            #expect(stopped.exitCode == 255)
            #expect(stopped.standardError == "CT 101 not running\n")
        }
    }
}
