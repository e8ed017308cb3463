import ConfigFile
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
///   resolve_timeout_seconds: 30              # optional: how long `compose config` may take per stack
///   resolve_memory_mb: 512                   # optional: its data-segment limit
/// agent: { url: https://127.0.0.1:8443, token_file: /etc/felhom/agent-token, pin_sha256: "sha256//..." }
/// quiesce: { enabled: true, poll_interval_seconds: 60, status_poll_interval_seconds: 2, max_quiesce_seconds: 1800, max_prepare_seconds: 3600 }
/// api: { listen: 127.0.0.1:8080, token_file: /etc/felhom/api-token }   # optional: connections: {...}, see ConnectionLimits
/// ```
struct ControllerConfig: Sendable {
    static let defaultPath = "/etc/felhom/controller.yaml"
    static let defaultProtected = ["traefik", "cloudflared", "felhom-controller"]

    var stacksDirectory: String
    var stateDirectory: String
    var protectedStacks: [String]
    var docker: DockerSettings
    var lockWait: Duration
    /// Where the host agent is; `nil` runs no quiesce loop.
    var agent: AgentSettings? = nil
    var quiesce = QuiesceConfig()
    /// The customer API; `nil` serves none.
    var api: APISettings? = nil

    /// The Stacks module's view of this config.
    var stacks: StacksConfiguration {
        StacksConfiguration(
            stacksDirectory: stacksDirectory,
            protectedStacks: Set(protectedStacks),
            docker: docker,
            lockDirectory: stateDirectory + "/locks",
            lockWait: lockWait,
            resolutionCache: stateDirectory + "/compose-cache.json"
        )
    }

    /// Reads and validates the file at `path`.
    /// - Throws: ``ConfigError`` naming the key that is missing or wrong.
    static func load(path: String) throws(ConfigError) -> ControllerConfig {
        try parse(ConfigFile.read(path: path), path: path)
    }

    /// Parses config YAML; `path` only names the file in errors.
    static func parse(_ text: String, path: String) throws(ConfigError) -> ControllerConfig {
        let root = try ConfigFile.root(of: text, path: path)
        let reader = ConfigReader(path: path)
        let top = try reader.mapping(root, key: nil, allowed: ["stacks_dir", "state_dir", "protected", "docker", "agent", "quiesce", "api"])

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
            let section = try reader.mapping(node, key: "docker", allowed: [
                "binary", "command_timeout_seconds", "operation_timeout_seconds", "lock_wait_seconds",
                "resolve_timeout_seconds", "resolve_memory_mb",
            ])
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
            if let timeout = section["resolve_timeout_seconds"] {
                docker.resolveTimeout = try reader.positiveSeconds(timeout, key: "docker.resolve_timeout_seconds")
            }
            if let memory = section["resolve_memory_mb"] {
                // Below about 100 MiB compose's Go runtime cannot start at all.
                docker.resolveMemoryBytes = try reader.integer(memory, key: "docker.resolve_memory_mb", minimum: 128) << 20
            }
        }
        var config = ControllerConfig(
            stacksDirectory: stacksDirectory, stateDirectory: stateDirectory,
            protectedStacks: protectedStacks, docker: docker, lockWait: lockWait
        )
        try config.parseDaemonSections(top, reader: reader)
        return config
    }
}
