import AgentAPI
import Foundation
import TestSupport

/// The Proxmox contract fake on loopback and a real `felhom-agent` with `backend: proxmox` that
/// talks to it over HTTPS, pinning the fake's key, with the fake's `pct`.
public final class ProxmoxScene: @unchecked Sendable {
    public let directory: TemporaryDirectory
    public let fake: ProxmoxFake
    public let agent: AgentHarness
    public let tokenFile: String

    /// - Parameters:
    ///   - restoreTestVMIDs: the scratch range, `LOW-HIGH`.
    ///   - trustCAFile: trust the API through its certificate as a CA file instead of a pin.
    public init(restoreTestVMIDs: String = "9900-9901", trustCAFile: Bool = false, extraConfig: String = "") async throws {
        directory = try TemporaryDirectory("proxmox")
        fake = try ProxmoxFake(directory: directory.path + "/pve")
        try await fake.start()
        tokenFile = directory.path + "/pve-token"
        guard FileManager.default.createFile(atPath: tokenFile, contents: Data(fake.tokenFileContents.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw HarnessError("cannot write the token file \(tokenFile)")
        }
        agent = try await AgentHarness(backend: """
            backend: proxmox
            proxmox:
              api_url: \(fake.apiURL)
              token_file: \(tokenFile)
              \(trustCAFile ? "ca_file: \(fake.caFile)" : "pin_sha256: \(fake.pin)")
              node: \(fake.node)
              storage: \(fake.storage)
              pct: \(fake.pctPath)
              shutdown_timeout_seconds: 10
              lost_answer_wait_seconds: 3
              restore_test: { vmids: \(restoreTestVMIDs), bridge: vmbr9 }
            """, extraConfig: extraConfig)
    }

    deinit {
        agent.stop(signal: SIGKILL)
    }

    public func stop() async {
        agent.stop(signal: SIGKILL)
        await fake.stop()
    }

    /// A guest whose rootfs holds `files` (path → contents), added to the fake and to the agent.
    public func addGuest(_ name: String, vmid: Int, files: [String: String]) async throws -> (token: String, rootfs: String) {
        let rootfs = try fake.addGuest(vmid: vmid, hostname: name, running: true, config: ["net0": "name=eth0,bridge=vmbr0,ip=dhcp", "memory": "512"])
        for (path, contents) in files {
            let url = URL(fileURLWithPath: rootfs + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(contents.utf8).write(to: url)
        }
        return (try await agent.addGuest(name, vmid: vmid), rootfs)
    }

    /// Prepares and starts a backup the way the controller's cycle does, and returns its id.
    public func backUp(_ client: AgentClient, key: String) async throws -> String {
        let prepared = try await client.prepareBackup(idempotencyKey: key + "-prepare")
        let ready = await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
            (try? await client.backupStatus(backupID: prepared.response.backupID))?.phase == .ready
        }
        guard ready else { throw HarnessError("the prepare never became ready: \(agent.log.suffix(2000))") }
        let started = try await client.startBackup(
            idempotencyKey: key, StartBackupRequest(quiesced: true, stacks: ["app"], prepareID: prepared.response.backupID))
        return started.response.backupID
    }

    /// The archive's tree, extracted with tar outside our code: relative path → contents.
    public static func tree(of directory: String) -> [String: String] {
        var tree: [String: String] = [:]
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return tree }
        while let path = walker.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory + "/" + path, isDirectory: &isDirectory), !isDirectory.boolValue {
                tree[path] = (try? String(contentsOfFile: directory + "/" + path, encoding: .utf8)) ?? "<binary>"
            }
        }
        return tree
    }
}
