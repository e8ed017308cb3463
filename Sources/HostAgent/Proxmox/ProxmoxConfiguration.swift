import ConfigFile
import Foundation

/// The `proxmox:` section of the agent's config: where the API is, how it is trusted, and
/// where backups go.
///
/// ```yaml
/// backend: proxmox
/// proxmox:
///   api_url: https://127.0.0.1:8006
///   token_file: /etc/felhom/pve-token          # one line: felhom@pve!agent=SECRET, mode 0600
///   pin_sha256: sha256//BASE64                 # or ca_file: /etc/pve/pve-root-ca.pem
///   node: pve1
///   storage: local                             # where vzdump writes its archives
///   mode: snapshot                             # or suspend; stop is refused
///   rootfs_storage: local-lvm                  # where a rollback restores the guest's disks
///   shutdown_timeout_seconds: 120
///   lost_answer_wait_seconds: 60               # how long a POST's task is looked for after a 595/596
///   pct: /usr/sbin/pct
///   restore_test: { vmids: 9900-9909, bridge: vmbr0 }
/// ```
public struct ProxmoxConfiguration: Sendable, Equatable {
    /// How the API's certificate is trusted.
    public enum Trust: Sendable, Equatable {
        case pinnedKey(String)
        case caFile(String)
    }

    /// How vzdump captures a running guest. `stop` is not offered: see ``parse(_:reader:)``.
    public enum Mode: String, Sendable, Equatable {
        case snapshot, suspend
    }

    public var apiURL: String
    public var tokenFile: String
    public var trust: Trust
    public var node: String
    public var storage: String
    public var mode: Mode = .snapshot
    /// The `storage` a restore puts the guest's volumes on; `nil` lets Proxmox choose (`local`).
    public var rootfsStorage: String?
    public var shutdownTimeoutSeconds = 120
    public var pct = "/usr/sbin/pct"
    /// Scratch container ids for restore tests; a test takes the first free one.
    public var restoreTestVMIDs: ClosedRange<Int> = 9900...9909
    /// The bridge a restore test's scratch container is attached to, with its link down.
    public var restoreTestBridge = "vmbr0"
    /// How long the task of a POST whose answer was lost is looked for before the POST is sent again.
    public var lostAnswerWaitSeconds = 60

    public init(apiURL: String, tokenFile: String, trust: Trust, node: String, storage: String) {
        self.apiURL = apiURL
        self.tokenFile = tokenFile
        self.trust = trust
        self.node = node
        self.storage = storage
    }

    static func parse(_ node: ConfigNode, reader: ConfigReader) throws(ConfigError) -> ProxmoxConfiguration {
        let section = try reader.mapping(node, key: "proxmox", allowed: [
            "api_url", "token_file", "pin_sha256", "ca_file", "node", "storage", "mode", "rootfs_storage",
            "shutdown_timeout_seconds", "pct", "restore_test", "lost_answer_wait_seconds",
        ])
        func required(_ key: String, example: String) throws(ConfigError) -> String {
            guard let value = section[key] else { throw reader.fail("proxmox.\(key)", "is required, e.g. \(example)") }
            return try reader.string(value, key: "proxmox.\(key)")
        }
        let apiURL = try required("api_url", example: "https://127.0.0.1:8006")
        guard apiURL.hasPrefix("https://"), !apiURL.hasSuffix("/") else {
            throw reader.fail("proxmox.api_url", "must be https://HOST:PORT without a trailing slash, e.g. https://127.0.0.1:8006; got \"\(apiURL)\"")
        }
        let tokenFile = try reader.absolutePath(section["token_file"], key: "proxmox.token_file", required: true)!
        let trust: Trust
        switch (section["pin_sha256"], section["ca_file"]) {
        case (let pin?, nil):
            let value = try reader.string(pin, key: "proxmox.pin_sha256")
            guard value.hasPrefix("sha256//"), value.count > 20 else {
                throw reader.fail("proxmox.pin_sha256", "must be sha256//BASE64 of the API certificate's public key")
            }
            trust = .pinnedKey(value)
        case (nil, let file?):
            trust = .caFile(try reader.absolutePath(file, key: "proxmox.ca_file", required: true)!)
        case (nil, nil):
            throw reader.fail("proxmox", "needs pin_sha256 (the API certificate's key) or ca_file (the cluster's CA, /etc/pve/pve-root-ca.pem)")
        case (.some, .some):
            throw reader.fail("proxmox", "takes pin_sha256 or ca_file, not both")
        }
        var configuration = ProxmoxConfiguration(
            apiURL: apiURL, tokenFile: tokenFile, trust: trust,
            node: try required("node", example: "pve1"), storage: try required("storage", example: "local"))
        if let node = section["mode"] {
            let mode = try reader.string(node, key: "proxmox.mode")
            guard mode != "stop" else {
                throw reader.fail("proxmox.mode", "stop is refused: vzdump's stop mode shuts the whole guest down, the felhom controller inside it too, and a vzdump killed in that mode leaves the guest stopped and locked. The controller already stops the apps for the backup; use snapshot (or suspend where the storage cannot snapshot)")
            }
            guard let parsed = Mode(rawValue: mode) else {
                throw reader.fail("proxmox.mode", "must be snapshot or suspend; got \"\(mode)\"")
            }
            configuration.mode = parsed
        }
        if let node = section["rootfs_storage"] {
            configuration.rootfsStorage = try reader.string(node, key: "proxmox.rootfs_storage")
        }
        if let node = section["shutdown_timeout_seconds"] {
            configuration.shutdownTimeoutSeconds = try reader.integer(node, key: "proxmox.shutdown_timeout_seconds", minimum: 10)
        }
        if let node = section["lost_answer_wait_seconds"] {
            configuration.lostAnswerWaitSeconds = try reader.integer(node, key: "proxmox.lost_answer_wait_seconds", minimum: 1)
        }
        if let node = section["pct"] {
            configuration.pct = try reader.absolutePath(node, key: "proxmox.pct", required: true)!
        }
        if let node = section["restore_test"] {
            let test = try reader.mapping(node, key: "proxmox.restore_test", allowed: ["vmids", "bridge"])
            if let node = test["vmids"] {
                let text = try reader.string(node, key: "proxmox.restore_test.vmids")
                let bounds = text.split(separator: "-").map { Int($0) }
                guard bounds.count == 2, let low = bounds[0], let high = bounds[1], 100 <= low, low <= high else {
                    throw reader.fail("proxmox.restore_test.vmids", "must be a range of container ids such as 9900-9909; got \"\(text)\"")
                }
                configuration.restoreTestVMIDs = low...high
            }
            if let node = test["bridge"] {
                configuration.restoreTestBridge = try reader.string(node, key: "proxmox.restore_test.bridge")
            }
        }
        return configuration
    }
}
