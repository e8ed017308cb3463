import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// F1 of the hardening issue: connections that never finish a request cannot starve either server.
///
/// Each server runs with a descriptor limit of 512, below the 2,000 connections of each kind
/// that `scripts/idle-connections.py` opens from one address of its own, while it sends a
/// normal authenticated request from another address every quarter second. The figures are
/// printed; the assertions are that every connection was closed within its timeout (with a
/// margin for a loaded machine) and that every normal request was answered.
@Suite("Connection limits", .heavy)
struct ConnectionLimitTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
    static let timeoutSeconds = 5.0
    static let connections = """
        connections: { tls_handshake_timeout_seconds: \(timeoutSeconds), idle_timeout_seconds: \(timeoutSeconds), \
        request_timeout_seconds: \(timeoutSeconds), max_per_peer: 64 }
        """
    static let launcher = ["/usr/bin/prlimit", "--nofile=512:512", "--"]

    @Test("the agent closes 2,000 idle connections of each kind within its timeouts and answers throughout")
    func agent() async throws {
        let agent = try await AgentHarness(extraConfig: Self.connections)
        let data = agent.root.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let token = try await agent.addGuest("alpha", dataDirectory: data)
        try await agent.start(launcher: Self.launcher)
        #expect(agent.log.contains("the open-file limit is 512"), "no warning about the low descriptor limit: \(agent.log)")
        let results = try await Self.probe(
            port: agent.port, tls: true, token: token, path: "/backup/due", pid: agent.processIdentifier,
            kinds: ["tcp", "half-handshake", "partial-headers", "keep-alive"])
        Self.check(results, server: "agent")
    }

    @Test("the customer API closes 2,000 idle connections of each kind within its timeouts and answers throughout")
    func customerAPI() async throws {
        let controller = try await APIOnlyController(apiYAML: "  " + Self.connections, launcher: Self.launcher)
        #expect(controller.process.log.contains("the open-file limit is 512"), "no warning about the low descriptor limit: \(controller.process.log)")
        // No half-handshake: this API speaks plain HTTP, where those bytes are simply a bad request.
        let results = try await Self.probe(
            port: controller.port, tls: false, token: controller.token, path: "/api/backup", pid: controller.process.processIdentifier,
            kinds: ["tcp", "partial-headers", "keep-alive"])
        Self.check(results, server: "customer API")
    }

    struct ProbeResult: Decodable {
        var kind: String
        var opened: Int
        var refusedAtOnce: Int
        var secondsToCloseAll: Double?
        var longestOpenSeconds: Double
        var stillOpen: Int
        var normalRequests: Int
        var normalFailures: Int
        var failureExamples: [String]
        var latencyMsP50: Double?
        var latencyMsMax: Double?
        var serverCpuSeconds: Double?
    }

    static func probe(port: Int, tls: Bool, token: String, path: String, pid: Int32?, kinds: [String]) async throws -> [ProbeResult] {
        var arguments = [
            repository + "/scripts/idle-connections.py", "--port", "\(port)", "--token", token, "--path", path,
            "--count", "2000", "--kinds", kinds.joined(separator: ","), "--deadline", "180",
        ]
        if tls { arguments.append("--tls") }
        if let pid { arguments += ["--server-pid", "\(pid)"] }
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "python3", arguments: arguments, timeout: .seconds(1800)))
        try #require(output.exitCode == 0, "idle-connections.py failed: \(output.standardError)")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try output.standardOutput.split(separator: "\n").map { try decoder.decode(ProbeResult.self, from: Data($0.utf8)) }
    }

    static func check(_ results: [ProbeResult], server: String) {
        for result in results {
            print("""
                [connections] \(server) \(result.kind): \(result.opened) opened, \(result.refusedAtOnce) refused at once, \
                longest open \(result.longestOpenSeconds) s, all closed \(result.secondsToCloseAll.map { "\($0) s" } ?? "never") after the last opened; \
                \(result.normalRequests) normal requests, \(result.normalFailures) failed, latency p50 \(result.latencyMsP50 ?? 0) ms max \(result.latencyMsMax ?? 0) ms; \
                server CPU \(result.serverCpuSeconds ?? 0) s
                """)
            #expect(result.stillOpen == 0, "\(server) \(result.kind): \(result.stillOpen) connections still open after 180 s")
            // The timeout, NIOSSL's 2 s wait for close_notify, and a wide margin for a loaded machine.
            #expect(result.longestOpenSeconds < timeoutSeconds + 2 + 60, "\(server) \(result.kind): a connection stayed open \(result.longestOpenSeconds) s")
            #expect(result.normalRequests > 0 && result.normalFailures == 0, "\(server) \(result.kind): \(result.failureExamples)")
        }
    }
}
