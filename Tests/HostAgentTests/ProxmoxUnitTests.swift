import ConfigFile
import Foundation
import Testing
@testable import HostAgent

@Suite("The Proxmox backend's config, task ids, notes and log reading")
struct ProxmoxUnitTests {
    static let base = """
        listen: 127.0.0.1:8443
        state_dir: /s
        backend: proxmox
        proxmox:
          api_url: https://127.0.0.1:8006
          token_file: /etc/felhom/pve-token
          pin_sha256: sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=
          node: pve1
          storage: local

        """

    @Test("a proxmox config reads; stop mode is refused with the reason; bad trust and ranges name their key")
    func config() throws {
        let parsed = try AgentConfiguration.parse(Self.base, path: "a.yaml")
        let proxmox = try #require(parsed.proxmox)
        #expect(proxmox.node == "pve1" && proxmox.storage == "local" && proxmox.mode == .snapshot)
        #expect(parsed.repository == "/s/repository", "the repository defaults into the state dir")
        #expect(proxmox.restoreTestVMIDs == 9900...9909)

        let cases: [(String, String, String)] = [
            (Self.base + "  mode: stop\n", "proxmox.mode", "shuts the whole guest down"),
            (Self.base + "  ca_file: /etc/pve/pve-root-ca.pem\n", "proxmox", "not both"),
            (Self.base.replacingOccurrences(of: "https://127.0.0.1:8006", with: "http://x"), "proxmox.api_url", "https"),
            (Self.base + "  restore_test: { vmids: 9909-9900 }\n", "proxmox.restore_test.vmids", "range"),
            (Self.base.replacingOccurrences(of: "backend: proxmox", with: "backend: directory"), "proxmox", "only read with backend: proxmox"),
            (Self.base.replacingOccurrences(of: "backend: proxmox", with: "backend: zfs"), "backend", "directory or proxmox"),
        ]
        for (text, key, words) in cases {
            #expect { try AgentConfiguration.parse(text, path: "a.yaml") } throws: { error in
                guard let error = error as? ConfigError else { return false }
                return error.key == key && error.message.contains(words)
            }
        }
    }

    @Test("UPIDs decode as Proxmox writes them, a 9-digit pstart included; anything else is refused")
    func upids() {
        let upid = UPID("UPID:pve1:000F4A2B:0398C1D2:65A4F2B0:vzdump:101:felhom@pve!agent:")
        #expect(upid?.node == "pve1" && upid?.startTime == 1_705_308_848 && upid?.type == "vzdump")
        #expect(upid?.id == "101" && upid?.user == "felhom@pve!agent")
        #expect(UPID("UPID:pve1:000F4A2B:1398C1D2A:65A4F2B0:vzdump::root@pam:")?.id == "")
        #expect(UPID("OK") == nil)
        #expect(UPID("UPID:pve1:000F4A2B:0398C1D2:65A4F2B0:vzdump:101:felhom@pve!agent") == nil)
    }

    @Test("our notes name the guest and the backup; anyone else's are not ours")
    func notes() {
        let notes = ProxmoxBackend.notesTemplate(guest: "shop", backupID: "b-20261206T000000Z-01020304")
        let expanded = notes.replacingOccurrences(of: "{{guestname}}", with: "shop-ct")
        #expect(ProxmoxBackend.parseNotes(expanded) == StoredBackup(guest: "shop", backupID: "b-20261206T000000Z-01020304"))
        #expect(ProxmoxBackend.parseNotes("weekly by hand") == nil)
        #expect(ProxmoxBackend.parseNotes(nil) == nil)
    }

    @Test("the guest resumes at the first line written once its state is captured, in snapshot and suspend mode")
    func capturedLines() {
        #expect(ProxmoxBackend.isCaptured("creating vzdump archive '/var/lib/vz/dump/vzdump-lxc-101-2026_12_06-05_40_00.tar.zst'"))
        #expect(ProxmoxBackend.isCaptured("creating Proxmox Backup Server archive 'ct/101/2026-12-06T05:40:00Z'"))
        #expect(ProxmoxBackend.isCaptured("guest is online again after 3 seconds"))
        #expect(!ProxmoxBackend.isCaptured("create storage snapshot 'vzdump'"), "logged before the snapshot exists")
        #expect(!ProxmoxBackend.isCaptured("suspending guest"))
        #expect(TaskStatus.succeeded("OK") && TaskStatus.succeeded("WARNINGS: 1"))
        #expect(!TaskStatus.succeeded("job errors") && !TaskStatus.succeeded("unexpected status"))
    }
}
