import Foundation
import ProxmoxFake
import Stacks
import Testing
import TestSupport

/// `POST /nodes/{node}/lxc` with `restore=1`, as a restore test uses it on a scratch vmid.
@Suite("Proxmox fake: restore")
struct RestoreTests {
    /// Backs up a guest 101 and returns the archive's volid.
    private func backedUp(_ node: FakeNode, data: [UInt8]) async throws -> String {
        try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8), "srv/app/data.bin": data])
        let upid = try await node.startBackup(101)
        let status = try await node.client.waitForTask(upid)
        try #require(status["exitstatus"] as? String == "OK")
        return try #require(node.fake.backups.first?.volid)
    }

    private func restore(_ node: FakeNode, vmid: Int, volid: String, _ extra: [(String, String)]) async throws -> CurlAnswer {
        try await node.client.api("POST", "/nodes/pve1/lxc", [
            ("vmid", String(vmid)), ("ostemplate", volid), ("restore", "1"), ("storage", "local"),
        ] + extra)
    }

    @Test("a forced restore over an existing CT replaces its rootfs and merges the given config over the backed-up one")
    func forcedRestore() async throws {
        try await FakeNode.with { node in
            let data = randomBytes(32 << 10)
            let volid = try await backedUp(node, data: data)
            let oldRoot = try node.addGuest(900, hostname: "old", files: ["old-only.txt": Array("stale\n".utf8)], running: false)

            let refused = try await restore(node, vmid: 900, volid: volid, [])
            #expect(refused.status == 500)
            #expect(refused.message == "CT 900 already exists on node 'pve1'\n")

            let scratchNet = "name=eth0,bridge=vmbr9,link_down=1"
            let answer = try await restore(node, vmid: 900, volid: volid, [
                ("force", "1"), ("hostname", "rt-101"), ("net0", scratchNet), ("onboot", "0"),
            ])
            let upid = try #require(answer.string)
            #expect(upid.contains(":vzrestore:900:"))
            let status = try await node.client.waitForTask(upid)
            #expect(status["exitstatus"] as? String == "OK")
            let log = try await node.client.taskLog(upid)
            let archive = try #require(node.fake.backups.first?.path)
            for line in ["recovering backed-up configuration from '\(volid)'", "restoring '\(volid)' now..",
                         "extracting archive '\(archive)'", "merging backed-up and given configuration..", "TASK OK"] {
                #expect(log.contains(line), "missing \(line)")
            }

            let guest = try #require(node.fake.guest(900))
            #expect(guest.hostname == "rt-101")
            #expect(guest.config["net0"] == scratchNet)
            #expect(guest.config["onboot"] == "0")
            #expect(guest.config["memory"] == "512")
            #expect(!guest.running)
            #expect(guest.lock == nil)
            #expect(guest.rootfs == oldRoot)
            #expect(!FileManager.default.fileExists(atPath: guest.rootfs + "/old-only.txt"))
            #expect(!FileManager.default.fileExists(atPath: guest.rootfs + "/etc/vzdump/pct.conf"))
            #expect(try String(contentsOfFile: guest.rootfs + "/etc/hostname", encoding: .utf8) == "web\n")
            #expect(try Array(Data(contentsOf: URL(fileURLWithPath: guest.rootfs + "/srv/app/data.bin"))) == data)
        }
    }

    @Test("with unique=1 the backup's net0 wins over the given one, with a new MAC")
    func uniqueGotcha() async throws {
        try await FakeNode.with { node in
            let volid = try await backedUp(node, data: randomBytes(1024))
            let original = try #require(node.fake.guest(101)?.config["net0"])
            let answer = try await restore(node, vmid: 901, volid: volid, [
                ("unique", "1"), ("net0", "name=eth0,bridge=vmbr9,link_down=1"), ("start", "1"),
            ])
            let status = try await node.client.waitForTask(try #require(answer.string))
            #expect(status["exitstatus"] as? String == "OK")
            let net0 = try #require(node.fake.guest(901)?.config["net0"])
            #expect(net0.contains("bridge=vmbr0"))
            #expect(net0 != original)
            #expect(node.fake.guest(901)?.running == true)
        }
    }

    @Test("a corrupted archive fails the restore in tar, and the half-made CT is gone")
    func corruptedArchive() async throws {
        try await FakeNode.with { node in
            let volid = try await backedUp(node, data: randomBytes(256 << 10))
            try node.addGuest(900, hostname: "old", files: [:], running: false)
            let path = try #require(node.fake.backups.first?.path)
            var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            bytes[bytes.count * 3 / 4] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: path))

            let answer = try await restore(node, vmid: 900, volid: volid, [("force", "1")])
            let status = try await node.client.waitForTask(try #require(answer.string))
            let exit = try #require(status["exitstatus"] as? String)
            #expect(exit.hasPrefix("unable to restore CT 900 - command 'tar xpf "))
            let log = try await node.client.taskLog(try #require(answer.string))
            #expect(log.last == "TASK ERROR: \(exit)")
            let gone = try await node.client.api("GET", "/nodes/pve1/lxc/900/status/current")
            #expect(gone.status == 500)
            #expect(gone.message == "Configuration file 'nodes/pve1/lxc/900.conf' does not exist\n")
            #expect(node.fake.guest(900) == nil)
        }
    }

    @Test("restore refusals: a running target, a locked target, no quorum")
    func refusals() async throws {
        try await FakeNode.with { node in
            let volid = try await backedUp(node, data: randomBytes(1024))
            try node.addGuest(900, hostname: "old", files: [:], running: true)
            let running = try await restore(node, vmid: 900, volid: volid, [("force", "1")])
            #expect(running.message == "can't overwrite running container\n")
            node.fake.setRunning(900, false)
            node.fake.setLock(900, "backup")
            let locked = try await restore(node, vmid: 900, volid: volid, [("force", "1")])
            #expect(locked.message == "unable to restore CT 900 - CT is locked (backup)\n")
            node.fake.inject(.noQuorum)
            let quorum = try await restore(node, vmid: 902, volid: volid, [])
            #expect(quorum.status == 500)
            #expect(quorum.reason == "cluster not ready - no quorum?")
        }
    }
}
