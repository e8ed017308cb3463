import ConfigFile
import DurableFiles
import Foundation
import HTTPServing
import Quiesce
import Yams

/// `agent:`: the host agent this guest's backups go through.
struct AgentSettings: Sendable {
    var url: String
    var tokenFile: String
    var pin: String
}

/// `quiesce:`: whether the loop runs, and its timing.
struct QuiesceConfig: Sendable {
    var enabled = true
    var settings = QuiesceSettings()
}

/// `api:`: the customer API's address and the file holding its bearer token.
struct APISettings: Sendable {
    var host: String
    var port: Int
    var tokenFile: String
    var connections = ConnectionLimits()
}

extension ControllerConfig {
    mutating func parseDaemonSections(_ top: [String: Node], reader: ConfigReader) throws(ConfigError) {
        if let node = top["agent"] {
            let section = try reader.mapping(node, key: "agent", allowed: ["url", "token_file", "pin_sha256"])
            guard let url = section["url"] else { throw reader.fail("agent.url", "is required, e.g. https://127.0.0.1:8443") }
            let urlText = try reader.string(url, key: "agent.url")
            guard urlText.hasPrefix("https://") else { throw reader.fail("agent.url", "must start with https://; the agent is only spoken to over TLS") }
            guard let pin = section["pin_sha256"] else { throw reader.fail("agent.pin_sha256", "is required: the pin `felhom-agent init` printed") }
            let pinText = try reader.string(pin, key: "agent.pin_sha256")
            guard pinText.hasPrefix("sha256//"), pinText.count == 52 else {
                throw reader.fail("agent.pin_sha256", "must be sha256// followed by 44 base64 characters, as `felhom-agent init` prints it")
            }
            let tokenFile = try reader.absolutePath(section["token_file"], key: "agent.token_file", required: true)!
            agent = AgentSettings(url: urlText, tokenFile: tokenFile, pin: pinText)
        }
        if let node = top["quiesce"] {
            let section = try reader.mapping(
                node, key: "quiesce",
                allowed: ["enabled", "poll_interval_seconds", "status_poll_interval_seconds", "max_quiesce_seconds", "max_prepare_seconds"])
            if let value = section["enabled"] { quiesce.enabled = try reader.bool(value, key: "quiesce.enabled") }
            if let value = section["poll_interval_seconds"] {
                quiesce.settings.pollInterval = try reader.positiveSeconds(value, key: "quiesce.poll_interval_seconds")
            }
            if let value = section["status_poll_interval_seconds"] {
                quiesce.settings.statusPollInterval = try reader.positiveSeconds(value, key: "quiesce.status_poll_interval_seconds")
            }
            if let value = section["max_prepare_seconds"] {
                quiesce.settings.maxPrepare = try reader.positiveSeconds(value, key: "quiesce.max_prepare_seconds")
            }
            if let value = section["max_quiesce_seconds"] {
                quiesce.settings.maxQuiesce = try reader.positiveSeconds(value, key: "quiesce.max_quiesce_seconds")
            }
        }
        if let node = top["api"] {
            let section = try reader.mapping(node, key: "api", allowed: ["listen", "token_file", "connections"])
            guard let listenNode = section["listen"] else { throw reader.fail("api.listen", "is required, e.g. 127.0.0.1:8080") }
            let listen = try reader.string(listenNode, key: "api.listen")
            guard let colon = listen.lastIndex(of: ":"), colon > listen.startIndex,
                  let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port) else {
                throw reader.fail("api.listen", "must be HOST:PORT, e.g. 127.0.0.1:8080; got \"\(listen)\"")
            }
            let tokenFile = try reader.absolutePath(section["token_file"], key: "api.token_file", required: true)!
            api = APISettings(host: String(listen[..<colon]), port: port, tokenFile: tokenFile)
            if let node = section["connections"] {
                api?.connections = try ConnectionLimits.parse(node, key: "api.connections", reader: reader)
            }
        }
    }

    /// Reads a token file: one line, surrounding whitespace ignored.
    static func readToken(_ path: String, key: String) throws -> String {
        if let (exposed, mode) = PrivateState.isReadableByOthers(path), exposed {
            throw CommandFailureMessage("\(key) \(path) has mode \(mode), so other users can read the token; run `chmod 600 \(path)`")
        }
        let token: String
        do {
            token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw CommandFailureMessage("cannot read \(key) \(path): \(error.localizedDescription)")
        }
        guard !token.isEmpty else { throw CommandFailureMessage("\(key) \(path) is empty") }
        return token
    }
}

/// A plain message for errors the CLI turns into one line.
struct CommandFailureMessage: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
