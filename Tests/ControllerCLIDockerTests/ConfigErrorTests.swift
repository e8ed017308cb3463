import Foundation
import Testing

@Suite("Controller config errors (runs the binary)")
struct ConfigErrorTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("felhom-config-\(UInt32.random(in: 0...UInt32.max))").path

    @Test("a bad config exits 78 with one line on stderr naming the key", arguments: [
        ("state_dir: /tmp/x\n", "`stacks_dir`: is required"),
        ("stacks_dir: relative/path\nstate_dir: /tmp/x\n", "`stacks_dir`: must be an absolute path"),
        ("stacks_dir: /nonexistent-felhom\nstate_dir: /tmp/x\n", "`stacks_dir`: /nonexistent-felhom is not an existing directory"),
        ("stacks_dir: /tmp\n", "`state_dir`: is required"),
        ("stacks_dir: /tmp\nstate_dir: /tmp/x\ndocker:\n  command_timeout_seconds: soon\n", "`docker.command_timeout_seconds`: must be a number"),
        ("stacks_dir: /tmp\nstate_dir: /tmp/x\ndocker:\n  command_timeout_seconds: -1\n", "`docker.command_timeout_seconds`: must be a number"),
        ("stacks_dir: /tmp\nstate_dir: /tmp/x\nprotectd: [traefik]\n", "`protectd`: unknown key"),
        ("stacks_dir: /tmp\nstate_dir: /tmp/x\nprotected: [traefik, 'Bad Name']\n", "`protected[1]`: \"Bad Name\" is not a valid stack name"),
        ("stacks_dir: /tmp\nstate_dir: /tmp/x\ndocker:\n  operation_timeout_seconds: { reboot: 5 }\n", "`docker.operation_timeout_seconds.reboot`: unknown key"),
        ("stacks_dir: [unclosed\n", "not valid YAML"),
    ])
    func badConfig(yaml: String, expected: String) async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try ControllerBinary.writeConfig(yaml, in: directory)
        let result = try await ControllerBinary.run(["stacks", "list", "--config", config])
        #expect(result.exitCode == 78)
        #expect(result.stderr.contains(expected), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "one line: \(result.stderr)")
        #expect(result.stdout.isEmpty)
    }

    @Test("a missing config file names the path")
    func missingFile() async throws {
        let result = try await ControllerBinary.run(["stacks", "list", "--config", "/nonexistent/felhom.yaml"])
        #expect(result.exitCode == 78)
        #expect(result.stderr.contains("/nonexistent/felhom.yaml"))
    }
}
