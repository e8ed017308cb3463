import ConfigFile
import Foundation
import HTTPServing
import Logging

/// The agent's YAML config file.
///
/// ```yaml
/// listen: 127.0.0.1:8443
/// state_dir: /var/lib/felhom-agent
/// repository: /var/lib/felhom-agent/backups
/// backend: directory                          # or proxmox, with a proxmox: section (ProxmoxConfiguration)
/// retention: { keep_last: 7, keep_pre_rollback: 3 }
/// restore_test: { interval_seconds: 86400 }   # optional; 0 turns scheduled restore tests off
/// limits: { backups_per_day: 48 }               # optional; per guest, over the last 24 hours
/// connections: { idle_timeout_seconds: 30, max_per_peer: 64 }   # optional; see ConnectionLimits
/// ```
public struct AgentConfiguration: Sendable, Equatable {
    public static let defaultPath = "/etc/felhom/agent.yaml"

    public var listenHost: String
    public var listenPort: Int
    public var stateDirectory: String
    public var repository: String
    public var retention: Retention
    /// Backups a guest may start in 24 hours, pre-rollback ones aside.
    public var backupsPerDay: Int = 48
    /// Between two scheduled restore tests of a guest; `nil` when they are off.
    public var restoreTestInterval: Duration? = .seconds(86400)
    /// Timeouts and caps of the HTTPS server's connections.
    public var connections = ConnectionLimits()
    /// Where backups are taken: the `directory` backend (`nil`), or the Proxmox API.
    public var proxmox: ProxmoxConfiguration?

    public var databasePath: String { "\(stateDirectory)/agent.sqlite" }
    public var identity: TLSIdentity { TLSIdentity(directory: "\(stateDirectory)/tls") }

    public init(listenHost: String, listenPort: Int, stateDirectory: String, repository: String, retention: Retention = Retention()) {
        self.listenHost = listenHost
        self.listenPort = listenPort
        self.stateDirectory = stateDirectory
        self.repository = repository
        self.retention = retention
    }

    public static func load(path: String) throws(ConfigError) -> AgentConfiguration {
        try parse(ConfigFile.read(path: path), path: path)
    }

    public static func parse(_ text: String, path: String) throws(ConfigError) -> AgentConfiguration {
        let reader = ConfigReader(path: path)
        let top = try reader.mapping(
            ConfigFile.root(of: text, path: path), key: nil,
            allowed: ["listen", "state_dir", "repository", "backend", "proxmox", "retention", "restore_test", "limits", "connections"])

        guard let listenNode = top["listen"] else { throw reader.fail("listen", "is required, e.g. 127.0.0.1:8443") }
        let listen = try reader.string(listenNode, key: "listen")
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]),
              (0...65535).contains(port), colon > listen.startIndex else {
            throw reader.fail("listen", "must be HOST:PORT, e.g. 127.0.0.1:8443; got \"\(listen)\"")
        }
        let stateDirectory = try reader.absolutePath(top["state_dir"], key: "state_dir", required: true)!
        var proxmox: ProxmoxConfiguration?
        if let backend = top["backend"] {
            switch try reader.string(backend, key: "backend") {
            case "directory":
                guard top["proxmox"] == nil else { throw reader.fail("proxmox", "is only read with backend: proxmox") }
            case "proxmox":
                guard let section = top["proxmox"] else {
                    throw reader.fail("proxmox", "is required with backend: proxmox (api_url, token_file, node, storage, and pin_sha256 or ca_file)")
                }
                proxmox = try ProxmoxConfiguration.parse(section, reader: reader)
            case let name:
                throw reader.fail("backend", "must be directory or proxmox; got \"\(name)\"")
            }
        } else if top["proxmox"] != nil {
            throw reader.fail("backend", "must be proxmox when a proxmox section is given")
        }
        // The Proxmox backend keeps its archives in Proxmox storage; the repository then holds only its lock.
        let repository = try reader.absolutePath(top["repository"], key: "repository", required: proxmox == nil) ?? stateDirectory + "/repository"

        var retention = Retention()
        if let node = top["retention"] {
            let section = try reader.mapping(node, key: "retention", allowed: ["keep_last", "keep_pre_rollback"])
            if let node = section["keep_last"] {
                retention.keepLast = try reader.integer(node, key: "retention.keep_last", minimum: 1)
            }
            if let node = section["keep_pre_rollback"] {
                retention.keepPreRollback = try reader.integer(node, key: "retention.keep_pre_rollback", minimum: 1)
            }
        }
        var configuration = AgentConfiguration(
            listenHost: String(listen[..<colon]), listenPort: port, stateDirectory: stateDirectory,
            repository: repository, retention: retention)
        configuration.proxmox = proxmox
        if let restoreTest = top["restore_test"] {
            let section = try reader.mapping(restoreTest, key: "restore_test", allowed: ["interval_seconds"])
            if let node = section["interval_seconds"] {
                let seconds = try reader.integer(node, key: "restore_test.interval_seconds", minimum: 0)
                configuration.restoreTestInterval = seconds == 0 ? nil : .seconds(seconds)
            }
        }
        if let limits = top["limits"] {
            let section = try reader.mapping(limits, key: "limits", allowed: ["backups_per_day"])
            if let node = section["backups_per_day"] {
                configuration.backupsPerDay = try reader.integer(node, key: "limits.backups_per_day", minimum: 1)
            }
        }
        if let node = top["connections"] {
            configuration.connections = try ConnectionLimits.parse(node, key: "connections", reader: reader)
        }
        return configuration
    }
}

extension AgentConfiguration {
    /// The backend this config names, for the server and the CLI alike.
    public func makeBackend(logger: Logger) throws -> any BackupBackend {
        if let proxmox {
            return try ProxmoxBackend(configuration: proxmox, stateDirectory: stateDirectory, logger: logger)
        }
        return DirectoryBackend(repository: repository, stateDirectory: stateDirectory, logger: logger)
    }
}
