import Foundation
import Stacks
import Yams

/// The controller's YAML config file.
///
/// ```yaml
/// stacks_dir: /opt/stacks
/// state_dir: /var/lib/felhom-controller
/// protected: [traefik, cloudflared, felhom-controller]
/// docker:
///   binary: docker
///   command_timeout_seconds: 120
///   operation_timeout_seconds: { up: 600 }   # optional, per operation
///   lock_wait_seconds: 30                    # optional
/// ```
struct ControllerConfig: Sendable {
    static let defaultPath = "/etc/felhom/controller.yaml"
    static let defaultProtected = ["traefik", "cloudflared", "felhom-controller"]

    var stacksDirectory: String
    var stateDirectory: String
    var protectedStacks: [String]
    var docker: DockerSettings
    var lockWait: Duration

    /// The Stacks module's view of this config.
    var stacks: StacksConfiguration {
        StacksConfiguration(
            stacksDirectory: stacksDirectory,
            protectedStacks: Set(protectedStacks),
            docker: docker,
            lockDirectory: stateDirectory + "/locks",
            lockWait: lockWait
        )
    }

    /// Reads and validates the file at `path`.
    /// - Throws: ``ConfigError`` naming the key that is missing or wrong.
    static func load(path: String) throws(ConfigError) -> ControllerConfig {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(path: path, key: nil, message: "cannot read the config file: \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }

    /// Parses config YAML; `path` only names the file in errors.
    static func parse(_ text: String, path: String) throws(ConfigError) -> ControllerConfig {
        let root: Node
        do {
            guard let node = try Yams.compose(yaml: text) else {
                throw ConfigError(path: path, key: nil, message: "the file is empty")
            }
            root = node
        } catch let error as ConfigError {
            throw error
        } catch {
            throw ConfigError(path: path, key: nil, message: "not valid YAML: \(error)")
        }
        let reader = ConfigReader(path: path)
        let top = try reader.mapping(root, key: nil, allowed: ["stacks_dir", "state_dir", "protected", "docker"])

        let stacksDirectory = try reader.absolutePath(top["stacks_dir"], key: "stacks_dir", required: true)!
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: stacksDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ConfigError(path: path, key: "stacks_dir", message: "\(stacksDirectory) is not an existing directory")
        }
        let stateDirectory = try reader.absolutePath(top["state_dir"], key: "state_dir", required: true)!

        var protectedStacks = defaultProtected
        if let node = top["protected"] {
            protectedStacks = try reader.stringList(node, key: "protected")
            for (index, name) in protectedStacks.enumerated() where !StackName.isValid(name) {
                throw ConfigError(path: path, key: "protected[\(index)]", message: "\"\(name)\" is not a valid stack name (^[a-z0-9][a-z0-9_-]{0,62}$)")
            }
        }

        var docker = DockerSettings()
        var lockWait = Duration.seconds(30)
        if let node = top["docker"] {
            let section = try reader.mapping(node, key: "docker", allowed: ["binary", "command_timeout_seconds", "operation_timeout_seconds", "lock_wait_seconds"])
            if let binary = section["binary"] {
                docker.binary = try reader.string(binary, key: "docker.binary")
                if docker.binary.isEmpty {
                    throw ConfigError(path: path, key: "docker.binary", message: "must not be empty")
                }
            }
            if let timeout = section["command_timeout_seconds"] {
                docker.commandTimeout = try reader.positiveSeconds(timeout, key: "docker.command_timeout_seconds")
            }
            if let overrides = section["operation_timeout_seconds"] {
                let allowed = StackOperation.allCases.map(\.rawValue)
                let mapping = try reader.mapping(overrides, key: "docker.operation_timeout_seconds", allowed: Set(allowed))
                for (name, value) in mapping {
                    let operation = StackOperation(rawValue: name)!
                    docker.operationTimeouts[operation] = try reader.positiveSeconds(value, key: "docker.operation_timeout_seconds.\(name)")
                }
            }
            if let wait = section["lock_wait_seconds"] {
                lockWait = try reader.positiveSeconds(wait, key: "docker.lock_wait_seconds")
            }
        }
        return ControllerConfig(
            stacksDirectory: stacksDirectory, stateDirectory: stateDirectory,
            protectedStacks: protectedStacks, docker: docker, lockWait: lockWait
        )
    }
}

/// A config file that cannot be used, with the key at fault.
struct ConfigError: Error, CustomStringConvertible {
    var path: String
    /// The dotted key, e.g. `docker.command_timeout_seconds`, or `nil` for the whole file.
    var key: String?
    var message: String

    var description: String {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        if let key { return "config \(path): key `\(key)`: \(oneLine)" }
        return "config \(path): \(oneLine)"
    }
}

/// Typed reads from a YAML node tree, each failing with the key it was reading.
private struct ConfigReader {
    var path: String

    func fail(_ key: String?, _ message: String) -> ConfigError {
        ConfigError(path: path, key: key, message: message)
    }

    func mapping(_ node: Node, key: String?, allowed: Set<String>) throws(ConfigError) -> [String: Node] {
        guard let mapping = node.mapping else {
            throw fail(key, "must be a mapping of keys to values")
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else { throw fail(key, "has a key that is not a string") }
            let dotted = key.map { "\($0).\(name)" } ?? name
            guard allowed.contains(name) else {
                throw fail(dotted, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            result[name] = value
        }
        return result
    }

    func string(_ node: Node, key: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else { throw fail(key, "must be a string") }
        return scalar.string
    }

    func absolutePath(_ node: Node?, key: String, required: Bool) throws(ConfigError) -> String? {
        guard let node else {
            if required { throw fail(key, "is required") }
            return nil
        }
        let value = try string(node, key: key)
        guard value.hasPrefix("/") else { throw fail(key, "must be an absolute path, got \"\(value)\"") }
        return value.count > 1 && value.hasSuffix("/") ? String(value.dropLast()) : value
    }

    func stringList(_ node: Node, key: String) throws(ConfigError) -> [String] {
        guard let sequence = node.sequence else { throw fail(key, "must be a list of names") }
        var values: [String] = []
        for (index, item) in sequence.enumerated() {
            values.append(try string(item, key: "\(key)[\(index)]"))
        }
        return values
    }

    func positiveSeconds(_ node: Node, key: String) throws(ConfigError) -> Duration {
        guard case .scalar(let scalar) = node, let seconds = Double(scalar.string), seconds.isFinite, seconds > 0 else {
            throw fail(key, "must be a number of seconds greater than 0")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}
