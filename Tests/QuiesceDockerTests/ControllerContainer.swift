import AgentAPI
import Foundation
import Stacks
import TestSupport

/// The controller as it runs in the field: the image `scripts/build-controller-image.sh` built,
/// deployed from `deploy/controller/compose.yaml` as the stack `felhom-controller` in the fixtures' stacks dir.
///
/// The project name is the real one, so only one of these runs on the engine at a time
/// (their suite is serialized, and ``down()`` clears a copy an earlier run left behind).
final class ControllerContainer: @unchecked Sendable {
    static let project = "felhom-controller"
    /// The image's user; the token files and the state dir must be its own.
    static let uid: UInt32 = 10001
    static var image: String { "felhom/controller:\(ProductVersion.current)" }
    static var composeFile: String {
        (FixtureStacks.fixturesDirectory as NSString).deletingLastPathComponent + "/deploy/controller/compose.yaml"
    }

    let fixtures: FixtureStacks
    let apiToken = "api-" + UUID().uuidString
    let apiPort: Int
    var stackDirectory: String { fixtures.stacksDirectory + "/" + Self.project }
    var configDirectory: String { fixtures.root + "/etc-felhom" }
    var markerPath: String { fixtures.stateDirectory + "/quiesce.marker" }

    /// Writes the config, the tokens and the stack's `.env`; the state dir is a bind mount so the test can read the marker.
    init(fixtures: FixtureStacks, agentURL: String, pin: String, guestToken: String, pollSeconds: Double = 1) async throws {
        self.fixtures = fixtures
        guard try await Docker.run(["image", "inspect", Self.image]).exitCode == 0 else {
            throw HarnessError("no image \(Self.image): scripts/test.sh builds it with scripts/build-controller-image.sh")
        }
        apiPort = try LoopbackListener.freePort()
        let files = FileManager.default
        try files.createDirectory(atPath: configDirectory, withIntermediateDirectories: true)
        try files.createDirectory(atPath: stackDirectory, withIntermediateDirectories: true)
        try files.createDirectory(atPath: fixtures.stateDirectory, withIntermediateDirectories: true)
        try files.setAttributes([.ownerAccountID: Self.uid, .groupOwnerAccountID: Self.uid, .posixPermissions: 0o700], ofItemAtPath: fixtures.stateDirectory)
        for (token, name) in [(guestToken, "agent-token"), (apiToken, "api-token")] {
            try token.write(toFile: configDirectory + "/" + name, atomically: true, encoding: .utf8)
            try files.setAttributes([.ownerAccountID: Self.uid, .posixPermissions: 0o600], ofItemAtPath: configDirectory + "/" + name)
        }
        try """
        stacks_dir: \(fixtures.stacksDirectory)
        state_dir: /var/lib/felhom-controller
        agent: { url: "\(agentURL)", token_file: /etc/felhom/agent-token, pin_sha256: "\(pin)" }
        quiesce: { enabled: true, poll_interval_seconds: \(pollSeconds), status_poll_interval_seconds: 0.2 }
        api: { listen: 127.0.0.1:\(apiPort), token_file: /etc/felhom/api-token }
        """.write(toFile: configDirectory + "/controller.yaml", atomically: true, encoding: .utf8)
        try files.copyItem(atPath: Self.composeFile, toPath: stackDirectory + "/compose.yaml")
        let socketGroup = try files.attributesOfItem(atPath: "/var/run/docker.sock")[.groupOwnerAccountID] as? Int ?? 0
        try """
        FELHOM_VERSION=\(ProductVersion.current)
        FELHOM_STACKS_DIR=\(fixtures.stacksDirectory)
        DOCKER_GID=\(socketGroup)
        FELHOM_STATE=\(fixtures.stateDirectory)
        FELHOM_CONFIG_DIR=\(configDirectory)

        """.write(toFile: stackDirectory + "/.env", atomically: true, encoding: .utf8)
    }

    /// `docker compose up -d` of the controller's stack, then waits until its customer API listens.
    func up() async throws {
        // A stack of that name from anywhere but a test's temporary dir is a real controller: leave it be.
        let existing = try await Docker.run([
            "ps", "-a", "--filter", "label=com.docker.compose.project=\(Self.project)",
            "--format", #"{{.Label "com.docker.compose.project.working_dir"}}"#,
        ]).standardOutput.split(separator: "\n")
        let tests = FileManager.default.temporaryDirectory.appendingPathComponent("felhom-t").path
        if let foreign = existing.first(where: { !$0.hasPrefix(tests) }) {
            throw HarnessError("a felhom-controller stack deployed from \(foreign) runs on this engine; the container tests would replace it, so they refuse")
        }
        await down()
        let result = try await compose(["up", "-d"])
        guard result.exitCode == 0 else { throw HarnessError("compose up felhom-controller: \(result.standardError)") }
        guard await eventually(timeout: .seconds(120), { await self.logs().contains("customer API listening") }) else {
            throw HarnessError("the controller container never listened: \(await logs())")
        }
    }

    /// Takes the stack down with its volumes; also clears a copy an earlier, killed test run left.
    func down() async {
        _ = try? await Docker.run(["compose", "--project-name", Self.project, "down", "--volumes", "--timeout", "0"], in: stackDirectory)
    }

    func compose(_ arguments: [String], timeout: Duration = .seconds(300)) async throws -> CommandOutput {
        try await Docker.run(["compose", "--project-directory", stackDirectory] + arguments, in: stackDirectory, timeout: timeout)
    }

    /// The id of the stack's one container, whatever its state.
    func containerID() async throws -> String {
        let output = try await Docker.run(["ps", "-aq", "--no-trunc", "--filter", "label=com.docker.compose.project=\(Self.project)"])
        guard let id = output.standardOutput.split(separator: "\n").first else { throw HarnessError("no felhom-controller container") }
        return String(id)
    }

    /// One `docker inspect --format` field of the container.
    func inspect(_ format: String) async throws -> String {
        try await Docker.run(["inspect", "--format", format, containerID()]).standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `felhom-controller ARGS` inside the container, as its own user.
    func exec(_ arguments: [String]) async throws -> CommandOutput {
        try await Docker.run(["exec", containerID(), "felhom-controller"] + arguments, timeout: .seconds(300))
    }

    func cycles() async throws -> [[String: Any]] {
        let output = try await exec(["cycles", "--json"])
        return (try? JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]]) ?? []
    }

    /// Everything the container printed, over all its restarts.
    func logs() async -> String {
        guard let id = try? await containerID(), let output = try? await Docker.run(["logs", id]) else { return "" }
        return output.standardOutput + output.standardError
    }

    /// Each container of `stacks`, by stack, with whether it runs.
    func running(_ stacks: [String]) async throws -> [String: Bool] {
        var result: [String: Bool] = [:]
        for stack in stacks {
            let ids = try await Docker.containerIDs(project: stack)
            let states = ids.isEmpty ? "" : try await Docker.run(["inspect", "--format", "{{.State.Running}}"] + ids).standardOutput
            let lines = states.split(separator: "\n")
            result[stack] = !lines.isEmpty && lines.allSatisfy { $0 == "true" }
        }
        return result
    }

    /// Calls the customer API through the port the config names; returns the status code and body.
    func api(_ method: String, _ path: String) async throws -> (status: Int, body: String) {
        let output = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "curl",
            arguments: ["-s", "-X", method, "-w", "\n%{http_code}", "-H", "Authorization: Bearer \(apiToken)", "http://127.0.0.1:\(apiPort)\(path)"],
            timeout: .seconds(120)))
        let parts = output.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(parts.last ?? "") ?? 0, parts.dropLast().joined(separator: "\n"))
    }
}
