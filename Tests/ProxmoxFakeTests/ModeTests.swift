import Foundation
import ProxmoxFake
import Stacks
import Testing
import TestSupport

/// The other backup modes and the storage side: suspend (also as snapshot mode's fallback), stop, protected archives.
@Suite("Proxmox fake: backup modes and storage")
struct ModeTests {
    @Test("without snapshot support, snapshot mode falls back to suspend and syncs twice")
    func suspendFallback() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8)])
            node.fake.inject(.noSnapshotSupport)
            let upid = try await node.startBackup(101)
            #expect(try await node.client.waitForTask(upid)["exitstatus"] as? String == "OK")
            let log = try await node.client.taskLog(upid)
            let fallback = try #require(log.firstIndex(of: "INFO: mode failure - some volumes do not support snapshots"))
            #expect(log[fallback + 1] == "INFO: trying 'suspend' mode instead")
            #expect(log[fallback + 2] == "INFO: backup mode: suspend")
            for line in ["INFO: starting first sync /proc/", "INFO: suspending guest", "INFO: starting final sync /proc/",
                         "INFO: resuming guest", "INFO: guest is online again after 1 seconds"] {
                #expect(log.contains { $0.hasPrefix(line) }, "missing \(line)")
            }
            #expect(!log.contains("INFO: create storage snapshot 'vzdump'"))
            #expect(node.fake.guest(101)?.snapshots == [])
            #expect(node.fake.backups.count == 1)
        }
    }

    @Test("stop mode stops a running guest for the archive and restarts it; a stopped guest stays stopped")
    func stopMode() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8)])
            let upid = try await node.startBackup(101, extra: [("mode", "stop")])
            #expect(try await node.client.waitForTask(upid)["exitstatus"] as? String == "OK")
            let log = try await node.client.taskLog(upid)
            let stopping = try #require(log.firstIndex(of: "INFO: stopping virtual guest"))
            let archive = try #require(log.firstIndex { $0.hasPrefix("INFO: creating vzdump archive") })
            let restart = try #require(log.firstIndex(of: "INFO: restarting vm"))
            #expect(stopping < archive && archive < restart)
            #expect(node.fake.guest(101)?.running == true)

            try node.addGuest(102, hostname: "idle", files: [:], running: false)
            let idle = try await node.startBackup(102)
            #expect(try await node.client.waitForTask(idle)["exitstatus"] as? String == "OK")
            let idleLog = try await node.client.taskLog(idle)
            #expect(idleLog.contains("INFO: status = stopped"))
            #expect(idleLog.contains("INFO: backup mode: stop"))
            #expect(!idleLog.contains("INFO: restarting vm"))
            #expect(node.fake.guest(102)?.running == false)
        }
    }

    @Test("a protected backup cannot be removed; unprotected, a URL-encoded volid deletes it")
    func protectedDelete() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: ["etc/hostname": Array("web\n".utf8)])
            let upid = try await node.startBackup(101, extra: [("protected", "1")])
            #expect(try await node.client.waitForTask(upid)["exitstatus"] as? String == "OK")
            let volid = try #require(node.fake.backups.first?.volid)
            let listed = try await node.client.api("GET", "/nodes/pve1/storage/local/content", [("content", "backup")]).objects
            #expect(listed.first?["protected"] as? Int == 1)
            #expect(listed.first?["notes"] == nil)

            let refused = try await node.client.api("DELETE", "/nodes/pve1/storage/local/content/\(volid)")
            let refusedTask = try #require(refused.string)
            #expect(refusedTask.contains(":imgdel:101@local:"))
            let name = String(volid.dropFirst("local:".count))
            #expect(try await node.client.waitForTask(refusedTask)["exitstatus"] as? String == "cannot remove protected volume '\(name)' on 'local'")
            #expect(node.fake.backups.count == 1)

            let unprotect = try await node.client.api("PUT", "/nodes/pve1/storage/local/content/\(volid)", [("protected", "0")])
            #expect(unprotect.status == 200)
            let encoded = try #require(volid.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
            let removed = try await node.client.api("DELETE", "/nodes/pve1/storage/local/content/\(encoded)")
            #expect(try await node.client.waitForTask(try #require(removed.string))["exitstatus"] as? String == "OK")
            #expect(node.fake.backups.isEmpty)
        }
    }
}
