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

    /// `docker compose --project-name … --project-directory … --file … <operation>`.
    public func compose(_ operation: StackOperation, _ stack: ManagedStack) -> DockerCommand {
        let subcommand: [String] = switch operation {
        case .up: ["up", "--detach"]
        case .start: ["start"]
        case .stop: ["stop"]
        case .restart: ["restart"]
        case .down: ["down"]
        }
        return DockerCommand(
            executable: settings.binary,
            arguments: [
                "compose",
                "--project-name", stack.name.rawValue,
                "--project-directory", stack.directory,
                "--file", stack.composeFile,
            ] + subcommand,
            workingDirectory: stack.directory,
            timeout: settings.timeout(for: operation)
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
