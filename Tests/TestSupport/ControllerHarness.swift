import Foundation
import Stacks

/// A real `felhom-controller run` over fixture stacks, talking to a real agent over HTTPS.
public final class ControllerHarness: @unchecked Sendable {
    public let fixtures: FixtureStacks
    public let configPath: String
    public let apiToken = "api-" + UUID().uuidString
    public private(set) var apiPort = 0
    public private(set) var runs: [BackgroundProcess] = []

    /// Next to the test bundle in the build directory, or `FELHOM_CONTROLLER_BIN`.
    public static var binary: String {
        if let override = ProcessInfo.processInfo.environment["FELHOM_CONTROLLER_BIN"] { return override }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("felhom-controller").path
    }

    /// Writes the token files and a config with short intervals; `extraYAML` adds top-level sections (e.g. `docker:`).
    public init(
        fixtures: FixtureStacks, agentURL: String, pin: String, guestToken: String, protected: [String] = [],
        pollSeconds: Double = 0.5, statusPollSeconds: Double = 0.2, maxQuiesceSeconds: Double = 600, quiesceEnabled: Bool = true,
        extraYAML: String = ""
    ) throws {
        self.fixtures = fixtures
        try FileManager.default.createDirectory(atPath: fixtures.stateDirectory, withIntermediateDirectories: true)
        for (token, file) in [(guestToken, "/agent-token"), (apiToken, "/api-token")] {
            try token.write(toFile: fixtures.root + file, atomically: true, encoding: .utf8)
            // The controller refuses a token file that group or others can read.
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: fixtures.root + file)
        }
        configPath = fixtures.root + "/controller.yaml"
        try """
        stacks_dir: \(fixtures.stacksDirectory)
        state_dir: \(fixtures.stateDirectory)
        protected: [\(protected.joined(separator: ", "))]
        agent: { url: "\(agentURL)", token_file: \(fixtures.root)/agent-token, pin_sha256: "\(pin)" }
        quiesce: { enabled: \(quiesceEnabled), poll_interval_seconds: \(pollSeconds), status_poll_interval_seconds: \(statusPollSeconds), max_quiesce_seconds: \(maxQuiesceSeconds) }
        api: { listen: 127.0.0.1:0, token_file: \(fixtures.root)/api-token }
        \(extraYAML)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
    }

    public var markerPath: String { fixtures.stateDirectory + "/quiesce.marker" }

    /// Starts `felhom-controller run` and waits until its customer API listens.
    @discardableResult
    public func start(environment: [String: String] = [:]) async throws -> BackgroundProcess {
        let process = try BackgroundProcess(
            executable: Self.binary, arguments: ["run", "--config", configPath],
            logPath: fixtures.root + "/controller-\(runs.count).log", environment: ["FELHOM_LOG_LEVEL": "info"].merging(environment) { $1 })
        runs.append(process)
        guard await process.waitForLine("customer API listening", timeout: .seconds(120)),
              let line = process.lines(containing: "customer API listening").first,
              let range = line.range(of: "port=") else {
            throw HarnessError("felhom-controller did not start: \(process.log)")
        }
        apiPort = Int(line[range.upperBound...].prefix(while: \.isNumber)) ?? 0
        return process
    }

    /// Starts a `felhom-controller` command against this config without waiting for it, e.g. a
    /// `rollback` that a crash test kills at a failpoint.
    public func launch(_ arguments: [String], environment: [String: String] = [:]) throws -> BackgroundProcess {
        let process = try BackgroundProcess(
            executable: Self.binary, arguments: arguments + ["--config", configPath],
            logPath: fixtures.root + "/controller-\(runs.count).log", environment: ["FELHOM_LOG_LEVEL": "info"].merging(environment) { $1 })
        runs.append(process)
        return process
    }

    /// Runs a `felhom-controller` command to completion against this config.
    public func cli(_ arguments: [String]) async throws -> CommandOutput {
        try await SubprocessCommandRunner().run(DockerCommand(
            executable: Self.binary, arguments: arguments + ["--config", configPath], timeout: .seconds(300)))
    }

    /// The cycle records, newest first, as `cycles --json` prints them.
    /// Runs `felhom-controller run` until its first cycle has finished, stops it, and returns the run and that cycle's record.
    public func firstCycle(timeout: Duration = .seconds(180)) async throws -> (run: BackgroundProcess, cycle: [String: Any]) {
        let run = try await start()
        let finished = await run.waitForLine("quiesce cycle finished", timeout: timeout)
        run.stop()
        // Newest first; a failed backup stays due, so the loop may have begun another cycle.
        guard finished, let cycle = try await cycles().last else {
            throw HarnessError("no quiesce cycle finished within \(timeout): \(run.log)")
        }
        return (run, cycle)
    }

    public func cycles() async throws -> [[String: Any]] {
        let output = try await cli(["cycles", "--json"])
        return (try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]]) ?? []
    }

    /// Each stack's status as `stacks list --json` reports it.
    public func statuses() async throws -> [String: String] {
        let output = try await cli(["stacks", "list", "--json"])
        let stacks = (try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [[String: Any]]) ?? []
        return Dictionary(uniqueKeysWithValues: stacks.compactMap { stack in
            (stack["name"] as? String).map { ($0, stack["status"] as? String ?? "") }
        })
    }

    /// Calls the customer API with curl; returns the status code and body.
    public func api(_ method: String, _ path: String, token: String? = nil, body: String? = nil) async throws -> (status: Int, body: String) {
        var arguments = ["-s", "-X", method, "-w", "\n%{http_code}", "http://127.0.0.1:\(apiPort)\(path)"]
        if let body { arguments += ["-H", "Content-Type: application/json", "--data-binary", body] }
        if let token = token ?? Optional(apiToken), !token.isEmpty { arguments += ["-H", "Authorization: Bearer \(token)"] }
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "curl", arguments: arguments, timeout: .seconds(120)))
        let parts = output.standardOutput.split(separator: "\n", omittingEmptySubsequences: false)
        return (Int(parts.last ?? "") ?? 0, parts.dropLast().joined(separator: "\n"))
    }
}
