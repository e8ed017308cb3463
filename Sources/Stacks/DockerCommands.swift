/// Builds every docker invocation the Stacks module makes.
///
/// Compose commands take a ``StackName`` and a ``ManagedStack``, so a name that
/// failed validation cannot be turned into an argv.
public struct DockerCommands: Sendable {
    /// The label compose puts on every container it creates.
    public static let projectLabel = "com.docker.compose.project"

    public var settings: DockerSettings

    public init(settings: DockerSettings) {
        self.settings = settings
    }

    /// The compose commands that perform `operation`, run in order:
    /// `docker compose --project-name … --project-directory … <subcommand>`.
    ///
    /// No `--file`: compose then reads the same files a plain `docker compose` in the stack's
    /// directory would (the override file, `COMPOSE_FILE` and `COMPOSE_PROFILES` from `.env`).
    /// The project name is the one compose resolved for the directory.
    ///
    /// `restart` is `stop` then `start`: compose's own `restart` restarts all
    /// services at once, so a service with `network_mode: "service:x"` can come
    /// back before `x` and fail with "cannot join network of a non running container".
    public func compose(_ operation: StackOperation, _ stack: ManagedStack) -> [DockerCommand] {
        let subcommands: [[String]] = switch operation {
        case .up: [["up", "--detach"]]
        case .start: [["start"]]
        case .stop: [["stop"]]
        case .restart: [["stop"], ["start"]]
        case .down: [["down"]]
        }
        return subcommands.map { subcommand in
            DockerCommand(
                executable: settings.binary,
                arguments: [
                    "compose",
                    "--project-name", stack.name.rawValue,
                    "--project-directory", stack.directory,
                ] + subcommand,
                workingDirectory: stack.directory,
                timeout: settings.timeout(for: operation)
            )
        }
    }

    /// `docker compose config --format json` for the stack in `directory`, under
    /// `prlimit --data` so that a file built to explode in memory cannot take the controller's host with it.
    public func resolveConfig(directory: String) -> DockerCommand {
        DockerCommand(
            executable: "prlimit",
            arguments: [
                "--data=\(settings.resolveMemoryBytes)", "--",
                settings.binary, "compose", "--project-directory", directory, "config", "--format", "json",
            ],
            workingDirectory: directory,
            timeout: settings.resolveTimeout
        )
    }

    /// The ids of every compose-managed container, running or not.
    public func listComposeContainerIDs() -> DockerCommand {
        DockerCommand(
            executable: settings.binary,
            arguments: ["ps", "--all", "--quiet", "--no-trunc", "--filter", "label=\(Self.projectLabel)"],
            timeout: settings.commandTimeout
        )
    }

    /// The full state of the given containers in one call.
    ///
    /// - Precondition: every id is lowercase hex, as `docker ps --quiet` prints
    ///   them; anything else is dropped so it cannot be read as an option.
    public func inspectContainers(_ ids: [String]) -> DockerCommand {
        DockerCommand(
            executable: settings.binary,
            arguments: ["inspect", "--type", "container"] + ids.filter(Self.isContainerID),
            timeout: settings.commandTimeout
        )
    }

    static func isContainerID(_ candidate: String) -> Bool {
        !candidate.isEmpty && candidate.utf8.allSatisfy {
            (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0)
        }
    }
}
