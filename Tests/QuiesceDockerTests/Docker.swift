import Foundation
import Stacks
import TestSupport

/// Small docker and compose calls the quiesce tests make directly.
enum Docker {
    static func run(_ arguments: [String], in directory: String? = nil, timeout: Duration = .seconds(120)) async throws -> CommandOutput {
        try await SubprocessCommandRunner().run(DockerCommand(executable: "docker", arguments: arguments, workingDirectory: directory, timeout: timeout))
    }

    /// `docker compose up -d` of one fixture copy.
    static func up(_ fixtures: FixtureStacks, _ fixture: String) async throws {
        // Compose's own deadline comes first, so a slow stack fails with compose's message, not ours.
        let result = try await run(
            ["compose", "--project-name", fixtures.name(fixture), "up", "-d", "--wait", "--wait-timeout", "240"],
            in: fixtures.directory(fixture), timeout: .seconds(300))
        guard result.exitCode == 0 else { throw HarnessError("compose up \(fixture): \(result.standardError)") }
    }

    static func stop(_ fixtures: FixtureStacks, _ fixture: String) async throws {
        let result = try await run(["compose", "--project-name", fixtures.name(fixture), "stop"], in: fixtures.directory(fixture))
        guard result.exitCode == 0 else { throw HarnessError("compose stop \(fixture): \(result.standardError)") }
    }

    /// The ids of every container of a compose project, running or not.
    static func containerIDs(project: String) async throws -> [String] {
        try await run(["ps", "-aq", "--filter", "label=com.docker.compose.project=\(project)"]).standardOutput
            .split(separator: "\n").map(String.init)
    }

    /// `State.Health.Status` of every container of a compose project, sorted; empty for those without a healthcheck.
    static func health(project: String) async throws -> [String] {
        let ids = try await containerIDs(project: project)
        guard !ids.isEmpty else { return [] }
        let output = try await run(["inspect", "--format", "{{if .State.Health}}{{.State.Health.Status}}{{end}}"] + ids).standardOutput
        return output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init).filter { !$0.isEmpty }.sorted()
    }

    /// `State.StartedAt` of every container of a compose project, by container name.
    static func startedAt(project: String) async throws -> [String: String] {
        let ids = try await containerIDs(project: project)
        guard !ids.isEmpty else { return [:] }
        let output = try await run(["inspect", "--format", "{{.Name}} {{.State.StartedAt}}"] + ids).standardOutput
        return Dictionary(uniqueKeysWithValues: output.split(separator: "\n").map { line in
            let parts = line.split(separator: " ")
            return (String(parts[0]), String(parts.dropFirst().joined(separator: " ")))
        })
    }
}
