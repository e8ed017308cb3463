import AgentAPI
import Foundation
import Stacks

/// A real `felhom-agent` in a throwaway state directory: its config, its TLS
/// identity, its guests, and the running process, which tests may SIGKILL.
public final class AgentHarness: @unchecked Sendable {
    public let root: TemporaryDirectory
    public let configPath: String
    public let repository: String
    public let pin: String
    public private(set) var port = 0
    private var process: BackgroundProcess?
    private var logPaths: [String] = []

    /// Next to the test bundle in the build directory, or `FELHOM_AGENT_BIN`.
    public static var binary: String {
        if let override = ProcessInfo.processInfo.environment["FELHOM_AGENT_BIN"] { return override }
        let testBinary = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: testBinary).deletingLastPathComponent().appendingPathComponent("felhom-agent").path
    }

    /// Writes a config (port 0, so parallel tests never collide) and runs `felhom-agent init`.
    /// `extraConfig` is YAML appended to the config, e.g. a `connections:` section; `backend` is the
    /// backend's YAML, e.g. `backend: proxmox` and its section.
    public init(
        keepLast: Int = 7, repository: String? = nil, backupsPerDay: Int = 48, backend: String = "backend: directory", extraConfig: String = ""
    ) async throws {
        root = try TemporaryDirectory("felhom-agent")
        self.repository = repository ?? root.path + "/repository"
        configPath = root.path + "/agent.yaml"
        try """
        listen: 127.0.0.1:0
        state_dir: \(root.path)/state
        repository: \(self.repository)
        \(backend)
        retention: { keep_last: \(keepLast) }
        restore_test: { interval_seconds: 0 }
        limits: { backups_per_day: \(backupsPerDay) }
        \(extraConfig)
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let initialized = try await Self.cli(["init", "--json", "--config", configPath])
        guard initialized.exitCode == 0, let json = try JSONSerialization.jsonObject(with: Data(initialized.standardOutput.utf8)) as? [String: String],
              let pin = json["pin"] else {
            throw HarnessError("felhom-agent init failed: \(initialized.standardError)")
        }
        self.pin = pin
    }

    deinit {
        process?.stop()
    }

    /// Runs a `felhom-agent` command to completion.
    public static func cli(_ arguments: [String]) async throws -> CommandOutput {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw HarnessError("no felhom-agent at \(binary); build it first with `swift build --build-tests`")
        }
        return try await SubprocessCommandRunner().run(DockerCommand(executable: binary, arguments: arguments, timeout: .seconds(300)))
    }

    /// Runs a command against this agent's config.
    public func cli(_ arguments: [String]) async throws -> CommandOutput {
        try await Self.cli(arguments + ["--config", configPath])
    }

    /// Adds a guest whose data dir is `dataDirectory` and returns its token.
    public func addGuest(_ name: String, dataDirectory: String) async throws -> String {
        try await addGuest(name, arguments: ["--data-dir", dataDirectory])
    }

    /// Adds a guest of the Proxmox backend, the container `vmid`, and returns its token.
    public func addGuest(_ name: String, vmid: Int) async throws -> String {
        try await addGuest(name, arguments: ["--vmid", "\(vmid)"])
    }

    private func addGuest(_ name: String, arguments: [String]) async throws -> String {
        let output = try await cli(["guest", "add", name] + arguments + ["--json"])
        guard output.exitCode == 0, let json = try JSONSerialization.jsonObject(with: Data(output.standardOutput.utf8)) as? [String: String],
              let token = json["token"] else {
            throw HarnessError("guest add \(name) failed: \(output.standardError)")
        }
        return token
    }

    /// Starts `felhom-agent run` and waits for its "listening" line.
    /// `launcher` runs it, e.g. `["/usr/bin/prlimit", "--nofile=512:512", "--"]`; it must exec the agent.
    public func start(environment: [String: String] = [:], launcher: [String] = []) async throws {
        let logPath = root.path + "/agent-\(logPaths.count).log"
        logPaths.append(logPath)
        let command = launcher + [Self.binary, "run", "--config", configPath]
        let process = try BackgroundProcess(
            executable: command[0], arguments: Array(command.dropFirst()), logPath: logPath,
            environment: ["FELHOM_LOG_LEVEL": "debug"].merging(environment) { $1 })
        self.process = process
        guard await process.waitForLine("] listening", timeout: .seconds(120)),
              let line = process.lines(containing: "] listening").first,
              let range = line.range(of: "port=") else {
            throw HarnessError("felhom-agent did not start listening: \(process.log)")
        }
        port = Int(line[range.upperBound...].prefix(while: \.isNumber)) ?? 0
    }

    /// Sends `signal` and waits for the process to end.
    public func stop(signal: Int32 = SIGTERM) {
        process?.stop(signal: signal)
        process = nil
    }

    public var processIdentifier: Int32? { process?.processIdentifier }

    /// The running agent process, to wait for its log lines.
    public var running: BackgroundProcess? { process }

    /// Everything every run of this agent logged, in order.
    public var log: String {
        logPaths.compactMap { try? String(contentsOfFile: $0, encoding: .utf8) }.joined()
    }

    public var baseURL: String { "https://127.0.0.1:\(port)" }

    /// A client for `token`, pinned to this agent's key unless another pin is given.
    public func client(token: String, pin: String? = nil) throws -> AgentClient {
        AgentClient(configuration: try AgentClientConfiguration(
            baseURL: baseURL, pin: pin ?? self.pin, token: token,
            connectTimeout: .seconds(5), totalTimeout: .seconds(30)))
    }

    /// Polls a backup until it leaves `queued` and `running`.
    public func waitForFinish(_ client: AgentClient, backupID: String, timeout: Duration = .seconds(300)) async throws -> BackupStatus {
        var status = try await client.backupStatus(backupID: backupID)
        _ = try await eventually(timeout: timeout, every: .milliseconds(200)) {
            status = try await client.backupStatus(backupID: backupID)
            return status.phase == .done || status.phase == .failed
        }
        return status
    }
}

extension AgentHarness {
    /// Sends a request with raw bytes and returns the raw answer, through the `curl` CLI with the
    /// agent's pin: for tests of the agent's input checks, which must send what the contract forbids.
    /// - Parameter token: the bearer token; `nil` sends none.
    public func sendRaw(
        _ method: String, _ path: String, body: [UInt8]?, headers: [String] = [], token: String?
    ) async throws -> (status: Int, body: [UInt8]) {
        var arguments = ["-sk", "--pinnedpubkey", pin, "-X", method, "-w", "\n%{http_code}", baseURL + path]
        for header in headers + (token.map { ["Authorization: Bearer \($0)"] } ?? []) { arguments += ["-H", header] }
        if let body {
            let file = root.path + "/raw-body-\(UInt32.random(in: 0...UInt32.max))"
            try Data(body).write(to: URL(fileURLWithPath: file))
            arguments += ["--data-binary", "@" + file]
            if !headers.contains(where: { $0.lowercased().hasPrefix("content-type:") }) { arguments += ["-H", "Content-Type: application/json"] }
        }
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "curl", arguments: arguments, timeout: .seconds(60)))
        guard output.exitCode == 0, let newline = output.standardOutput.lastIndex(of: "\n"),
              let status = Int(output.standardOutput[output.standardOutput.index(after: newline)...]) else {
            throw HarnessError("curl \(method) \(path) failed: \(output.standardError)")
        }
        return (status, Array(output.standardOutput[..<newline].utf8))
    }
}

public struct HarnessError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
