import Foundation
import Stacks
import TestSupport
import Testing

/// The agent as it ships: the systemd unit and the install script.
@Suite("The agent's systemd unit and install script")
struct AgentDeployTests {
    static let repository = URL(fileURLWithPath: FixtureStacks.fixturesDirectory).deletingLastPathComponent().path
    static let unit = repository + "/deploy/agent/felhom-agent.service"

    static func run(_ argv: [String], in directory: String? = nil) async throws -> CommandOutput {
        try await SubprocessCommandRunner().run(DockerCommand(
            executable: argv[0], arguments: Array(argv.dropFirst()), workingDirectory: directory, timeout: .seconds(300)))
    }

    @Test("systemd-analyze verify accepts the unit; it restarts always and keeps its hardening")
    func unitVerifies() async throws {
        let text = try String(contentsOfFile: Self.unit, encoding: .utf8)
        for directive in [
            "Restart=always", "ProtectSystem=strict", "ReadWritePaths=/var/lib/felhom-agent /var/lib/felhom-backups",
            "PrivateTmp=yes", "NoNewPrivileges=yes", "CapabilityBoundingSet=CAP_CHOWN",
        ] {
            #expect(text.contains(directive), "missing \(directive)")
        }
        #expect(!text.contains("CAP_SYS_ADMIN") && !text.contains("CAP_NET_ADMIN"))
        // verify checks that ExecStart exists; point it at the binary this build made.
        let scratch = try TemporaryDirectory("felhom-unit")
        let copy = scratch.path + "/felhom-agent.service"
        try text.replacingOccurrences(of: "/usr/local/bin/felhom-agent", with: AgentHarness.binary)
            .write(toFile: copy, atomically: true, encoding: .utf8)
        let verified = try await Self.run(["systemd-analyze", "verify", copy], in: scratch.path)
        #expect(verified.exitCode == 0, "\(verified.standardError)")
        #expect(!verified.standardError.contains("felhom-agent.service:"), "\(verified.standardError)")
    }

    @Test("install-agent.sh into a scratch root: binary, private config, state and repository, key, unit, enabled; a second run keeps the key and the config")
    func installIsIdempotent() async throws {
        let scratch = try TemporaryDirectory("felhom-install")
        let root = scratch.path + "/root"
        let install = [
            "bash", Self.repository + "/scripts/install-agent.sh", "--root", root, "--binary", AgentHarness.binary, "--data-dir", "/srv/guests",
        ]
        let first = try await Self.run(install, in: Self.repository)
        try #require(first.exitCode == 0, "\(first.standardError)")
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: root + path)[.posixPermissions] as? Int ?? 0) & 0o777
        }
        #expect(try mode("/usr/local/bin/felhom-agent") == 0o755)
        #expect(try mode("/etc/felhom/agent.yaml") == 0o600)
        #expect(try mode("/var/lib/felhom-agent") == 0o700 && mode("/var/lib/felhom-backups") == 0o700)
        #expect(try mode("/var/lib/felhom-agent/tls/agent-key.pem") == 0o600)
        #expect(try mode("/etc/systemd/system/felhom-agent.service") == 0o644)
        let dropIn = try String(contentsOfFile: root + "/etc/systemd/system/felhom-agent.service.d/data-dirs.conf", encoding: .utf8)
        #expect(dropIn.contains("ReadWritePaths=/srv/guests"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/etc/systemd/system/multi-user.target.wants/felhom-agent.service")
            == "/etc/systemd/system/felhom-agent.service")
        let config = try String(contentsOfFile: root + "/etc/felhom/agent.yaml", encoding: .utf8)
        #expect(config.contains("state_dir: /var/lib/felhom-agent") && config.contains("repository: /var/lib/felhom-backups"), "\(config)")

        let key = try Data(contentsOf: URL(fileURLWithPath: root + "/var/lib/felhom-agent/tls/agent-key.pem"))
        try "# edited by the operator\n".appendingToFile(root + "/etc/felhom/agent.yaml")
        let second = try await Self.run(install, in: Self.repository)
        #expect(second.exitCode == 0, "\(second.standardError)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: root + "/var/lib/felhom-agent/tls/agent-key.pem")) == key, "the key was replaced")
        #expect(try String(contentsOfFile: root + "/etc/felhom/agent.yaml", encoding: .utf8).hasSuffix("# edited by the operator\n"))
        #expect(second.standardOutput.contains("kept the existing TLS key"), "\(second.standardOutput)")
    }
}

private extension String {
    func appendingToFile(_ path: String) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? handle.close() }
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(utf8))
    }
}
