import Foundation
import ProxmoxFake
import Stacks
import Testing
import TestSupport

/// vzdump as the agent will drive it: the task, its log, the archive, the lock and the temporary snapshot.
@Suite("Proxmox fake: vzdump")
struct VzdumpTests {
    static let files: [String: [UInt8]] = [
        "etc/hostname": Array("web\n".utf8),
        "srv/app/data.bin": randomBytes(64 << 10),
        "srv/app/empty": [],
        "tmp/scratch": Array("not backed up\n".utf8),
    ]

    @Test("a snapshot-mode backup snapshots before archiving, ends TASK OK and leaves a listed archive of the rootfs")
    func snapshotBackup() async throws {
        try await FakeNode.with { node in
            let rootfs = try node.addGuest(101, hostname: "web", files: Self.files)
            // Held mid-archive while the test looks at the guest, then released.
            node.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .seconds(600))
            let upid = try await node.startBackup(101, extra: [("notes-template", "{{guestname}} on {{node}} ({{vmid}}, {{cluster}})")])
            #expect(upid.contains(":vzdump:101:felhom@pve!agent:"))

            let archiving = try await eventually(timeout: .seconds(60), every: .milliseconds(20)) {
                try await node.client.taskLog(upid).contains { $0.hasPrefix("INFO: creating vzdump archive") }
            }
            #expect(archiving)
            let during = try await node.client.api("GET", "/nodes/pve1/lxc/101/status/current").object
            #expect(during["lock"] as? String == "backup")
            let snapshots = try await node.client.api("GET", "/nodes/pve1/lxc/101/snapshot").objects.compactMap { $0["name"] as? String }
            #expect(Set(snapshots) == ["vzdump", "current"])
            let running = try await node.client.api("GET", "/nodes/pve1/tasks", [("source", "active"), ("typefilter", "vzdump")]).objects
            #expect(running.map { $0["upid"] as? String } == [upid])
            node.fake.setTiming(snapshotAfter: .milliseconds(200), archiveFor: .zero)

            let status = try await node.client.waitForTask(upid)
            #expect(status["exitstatus"] as? String == "OK")
            let log = try await node.client.taskLog(upid)
            #expect(log.last == "TASK OK")
            let snapshotLine = try #require(log.firstIndex(of: "INFO: create storage snapshot 'vzdump'"))
            let archiveLine = try #require(log.firstIndex { $0.hasPrefix("INFO: creating vzdump archive '") })
            #expect(snapshotLine < archiveLine)
            for line in ["INFO: starting new backup job: vzdump 101 --mode snapshot --storage local", "INFO: Starting Backup of VM 101 (lxc)",
                         "INFO: status = running", "INFO: CT Name: web", "INFO: backup mode: snapshot", "INFO: adding notes to backup",
                         "INFO: cleanup temporary 'vzdump' snapshot", "INFO: Finished Backup of VM 101 (", "INFO: Backup job finished successfully"] {
                #expect(log.contains { $0.hasPrefix(line) }, "missing \(line)")
            }

            let after = try await node.client.api("GET", "/nodes/pve1/lxc/101/status/current").object
            #expect(after["lock"] == nil)
            let left = try await node.client.api("GET", "/nodes/pve1/lxc/101/snapshot").objects.compactMap { $0["name"] as? String }
            #expect(left == ["current"])

            let content = try await node.client.api("GET", "/nodes/pve1/storage/local/content", [("content", "backup"), ("vmid", "101")]).objects
            #expect(content.count == 1)
            let item = try #require(content.first)
            let volid = try #require(item["volid"] as? String)
            #expect(volid.hasPrefix("local:backup/vzdump-lxc-101-") && volid.hasSuffix(".tar.zst"))
            #expect(item["format"] as? String == "tar.zst")
            #expect(item["vmid"] as? Int == 101)
            #expect(item["notes"] as? String == "web on pve1 (101, standalone node)")
            #expect(item["protected"] == nil)
            #expect(log.contains("INFO: creating vzdump archive '\(node.fake.backups[0].path)'"))

            // The archive holds the rootfs (minus the standard excludes) and pct.conf, read by tar, not by the fake.
            let extracted = node.directory.path + "/extracted"
            try FileManager.default.createDirectory(atPath: extracted, withIntermediateDirectories: true)
            let tar = try await node.run("tar", ["--zstd", "-x", "-f", node.fake.backups[0].path, "-C", extracted])
            #expect(tar.exitCode == 0, "\(tar.standardError)")
            let config = try String(contentsOfFile: extracted + "/etc/vzdump/pct.conf", encoding: .utf8)
            #expect(config.contains("hostname: web\n") && config.contains("rootfs: local:101/subvol-101-disk-0.subvol"))
            #expect(!config.contains("lock:"))
            try FileManager.default.removeItem(atPath: extracted + "/etc/vzdump")
            let expected = try await TreeFingerprint.of(rootfs).split(separator: "\n").filter { !$0.contains("tmp/scratch") }
            #expect(try await TreeFingerprint.of(extracted).split(separator: "\n") == expected)
        }
    }

    @Test("WARNINGS: 1 logs a WARN line and still counts as stopped with that exit status")
    func warnings() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: Self.files)
            node.fake.inject(.vzdumpExit("WARNINGS: 1"))
            let upid = try await node.startBackup(101)
            let status = try await node.client.waitForTask(upid)
            #expect(status["exitstatus"] as? String == "WARNINGS: 1")
            let log = try await node.client.taskLog(upid)
            #expect(log.filter { $0.hasPrefix("WARN: ") }.count == 1)
            #expect(log.last == "TASK WARNINGS: 1")
            #expect(node.fake.backups.count == 1)
        }
    }

    @Test("a job error logs ERROR: Backup of VM N failed, unlocks, and ends 'job errors' without an archive")
    func jobErrors() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: Self.files)
            node.fake.inject(.vzdumpJobError(reason: "vma_queue_write: write error - No space left on device"))
            let upid = try await node.startBackup(101)
            let status = try await node.client.waitForTask(upid)
            #expect(status["exitstatus"] as? String == "job errors")
            let log = try await node.client.taskLog(upid)
            #expect(log.contains("ERROR: Backup of VM 101 failed - vma_queue_write: write error - No space left on device"))
            #expect(log.suffix(2) == ["INFO: Backup job finished with errors", "TASK ERROR: job errors"])
            #expect(node.fake.guest(101)?.lock == nil)
            #expect(node.fake.guest(101)?.snapshots == [])
            #expect(node.fake.backups.isEmpty)
            // No .tar.dat or .tmp directory is left behind after a clean failure.
            #expect(try FileManager.default.contentsOfDirectory(atPath: node.directory.path + "/node/dump") == [])

            // A CT that is already locked fails the same way, and keeps its lock.
            node.fake.setLock(101, "backup")
            let locked = try await node.startBackup(101)
            #expect(try await node.client.waitForTask(locked)["exitstatus"] as? String == "job errors")
            #expect(try await node.client.taskLog(locked).contains("ERROR: Backup of VM 101 failed - CT is locked (backup)"))
            #expect(node.fake.guest(101)?.lock == "backup")

            let unknown = try await node.startBackup(9999)
            #expect(try await node.client.waitForTask(unknown)["exitstatus"] as? String == "job errors")
            #expect(try await node.client.taskLog(unknown).contains("ERROR: Backup of VM 9999 failed - unable to find VM '9999'"))
        }
    }

    @Test("a second vzdump waits for the node's global lock and says so")
    func globalLock() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: Self.files)
            node.fake.inject(.globalLock(seconds: 600))
            let upid = try await node.startBackup(101)
            let waiting = await eventually(timeout: .seconds(60), every: .milliseconds(20)) {
                node.fake.tasks.first { $0.upid == upid }?.log.contains("INFO: trying to get global lock - waiting...") == true
            }
            #expect(waiting)
            #expect(node.fake.tasks.first { $0.upid == upid }?.running == true)
            node.fake.clearFaults()
            let status = try await node.client.waitForTask(upid)
            #expect(status["exitstatus"] as? String == "OK")
            let log = try await node.client.taskLog(upid)
            try #require(log.count > 3)
            #expect(log[0] == "INFO: trying to get global lock - waiting...")
            #expect(log[1] == "INFO: got global lock")
            #expect(log[2].hasPrefix("INFO: starting new backup job: vzdump 101 "))
        }
    }

    @Test("a 596 after handling loses the answer, but the vzdump task started anyway")
    func lostAnswer() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: Self.files)
            node.fake.inject(.answer(status: 596, method: "POST", pathSuffix: "/vzdump", times: 1, afterHandling: true))
            let lost = try await node.client.api("POST", "/nodes/pve1/vzdump", [("vmid", "101"), ("storage", "local"), ("compress", "zstd")])
            #expect(lost.status == 596)
            #expect(lost.reason == "Connection timed out")
            #expect(lost.body.isEmpty)
            #expect(node.fake.vzdumpStarts(vmid: 101) == 1)
            // How a client finds it: the node's tasks for that vmid.
            let tasks = try await node.client.api("GET", "/nodes/pve1/tasks", [("source", "all"), ("typefilter", "vzdump"), ("vmid", "101")]).objects
            let upid = try #require(tasks.first?["upid"] as? String)
            #expect(try await node.client.waitForTask(upid)["exitstatus"] as? String == "OK")
        }
    }

    @Test("validation: notes-template needs storage, root-only options are refused, a guest elsewhere answers OK")
    func validation() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: [:])
            let noStorage = try await node.client.api("POST", "/nodes/pve1/vzdump", [("vmid", "101"), ("notes-template", "{{guestname}}")])
            #expect(noStorage.status == 400)
            #expect(noStorage.errors["storage"] == "missing property required by 'notes-template'\n")
            let rootOnly = try await node.client.api("POST", "/nodes/pve1/vzdump", [("vmid", "101"), ("dumpdir", "/tmp")])
            #expect(rootOnly.errors["dumpdir"] == "Only root may set this option.\n")
            node.fake.inject(.vzdumpOnOtherNode(vmid: 102))
            let elsewhere = try await node.client.api("POST", "/nodes/pve1/vzdump", [("vmid", "102"), ("storage", "local")])
            #expect(elsewhere.string == "OK")
            #expect(node.fake.vzdumpStarts(vmid: 102) == 0)
            #expect(node.fake.tasks.isEmpty)
        }
    }
}
