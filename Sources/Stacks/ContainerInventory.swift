import Foundation

/// One compose-managed container, as `docker inspect` describes it.
public struct ComposeContainer: Sendable, Equatable {
    public var id: String
    public var project: String
    public var service: String
    /// Compose's `project.working_dir` label: where the project was deployed from.
    public var workingDirectory: String?
    public var state: String
    public var health: String?
    public var exitCode: Int
    public var startedAt: String?
    /// Created by `docker compose run`; not part of the stack's services.
    public var isOneOff: Bool
    /// Carries `eu.felhom.protected=true`.
    public var isProtected: Bool

    public var isRunning: Bool { state == "running" }

    public init(
        id: String, project: String, service: String, workingDirectory: String?, state: String,
        health: String?, exitCode: Int, startedAt: String?, isOneOff: Bool, isProtected: Bool
    ) {
        self.id = id
        self.project = project
        self.service = service
        self.workingDirectory = workingDirectory
        self.state = state
        self.health = health
        self.exitCode = exitCode
        self.startedAt = startedAt
        self.isOneOff = isOneOff
        self.isProtected = isProtected
    }
}

/// Reads the state of every compose container in at most two docker calls,
/// whatever the number of stacks: `docker ps --quiet`, then one `docker inspect`.
public struct ContainerInventory: Sendable {
    public var commands: DockerCommands
    public var runner: any CommandRunner

    public init(commands: DockerCommands, runner: any CommandRunner) {
        self.commands = commands
        self.runner = runner
    }

    /// Every compose container on the engine.
    public func containers() async throws(StackError) -> [ComposeContainer] {
        let list = try await runChecked(commands.listComposeContainerIDs())
        let ids = list.standardOutput.split(whereSeparator: \.isNewline).map(String.init).filter(DockerCommands.isContainerID)
        guard !ids.isEmpty else { return [] }
        let inspected = try await runner.runMapped(commands.inspectContainers(ids))
        // A container removed between the two calls makes inspect exit 1 while
        // still printing the others; what it printed is the truth.
        guard let containers = try? Self.parseInspect(inspected.standardOutput) else {
            throw StackError(code: .commandFailed, stderr: inspected.standardError, detail: "docker inspect")
        }
        return containers
    }

    private func runChecked(_ command: DockerCommand) async throws(StackError) -> CommandOutput {
        let output = try await runner.runMapped(command)
        guard output.succeeded else {
            throw StackError(code: .commandFailed, stderr: output.standardError, detail: "docker \(command.arguments.first ?? "")")
        }
        return output
    }

    /// Parses `docker inspect` JSON into containers, skipping non-compose ones.
    public static func parseInspect(_ json: String) throws -> [ComposeContainer] {
        let raw = try JSONDecoder().decode([InspectedContainer].self, from: Data(json.utf8))
        return raw.compactMap { container in
            let labels = container.config.labels ?? [:]
            guard let project = labels[DockerCommands.projectLabel], let service = labels["com.docker.compose.service"] else {
                return nil
            }
            return ComposeContainer(
                id: container.id,
                project: project,
                service: service,
                workingDirectory: labels["com.docker.compose.project.working_dir"],
                state: container.state.status,
                health: container.state.health?.status,
                exitCode: container.state.exitCode,
                startedAt: container.state.startedAt,
                isOneOff: labels["com.docker.compose.oneoff"]?.lowercased() == "true",
                isProtected: labels[ComposeProject.protectedLabel] == "true"
            )
        }
    }

    private struct InspectedContainer: Decodable {
        var id: String
        var state: State
        var config: Config

        struct State: Decodable {
            var status: String
            var exitCode: Int
            var startedAt: String?
            var health: Health?
            enum CodingKeys: String, CodingKey {
                case status = "Status", exitCode = "ExitCode", startedAt = "StartedAt", health = "Health"
            }
        }
        struct Health: Decodable {
            var status: String
            enum CodingKeys: String, CodingKey { case status = "Status" }
        }
        struct Config: Decodable {
            var labels: [String: String]?
            enum CodingKeys: String, CodingKey { case labels = "Labels" }
        }
        enum CodingKeys: String, CodingKey {
            case id = "Id", state = "State", config = "Config"
        }
    }
}

extension CommandRunner {
    /// Runs `command`, turning a launch failure or a timeout into a ``StackError``.
    func runMapped(
        _ command: DockerCommand, stack: String? = nil, operation: StackOperation? = nil
    ) async throws(StackError) -> CommandOutput {
        do {
            return try await run(command)
        } catch {
            switch error {
            case .timedOut(let after, let standardError):
                throw StackError(code: .timeout, stack: stack, operation: operation, stderr: standardError, detail: "after \(after)")
            case .launchFailed(let reason):
                throw StackError(code: .dockerUnavailable, stack: stack, operation: operation, detail: reason)
            case .cancelled:
                throw StackError(code: .cancelled, stack: stack, operation: operation)
            }
        }
    }
}
