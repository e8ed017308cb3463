import Foundation
import Testing

@Suite("The controller's private state: 0700 dirs, 0600 files, 0600 tokens (runs the binary)")
struct PrivateStateModeTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("felhom-modes-\(UInt32.random(in: 0...UInt32.max))").path
    /// A valid pin; `cycles` never connects to the agent.
    static let pin = "sha256//" + Data(repeating: 7, count: 32).base64EncodedString()

    func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    func config(tokenMode: Int) throws -> String {
        try FileManager.default.createDirectory(atPath: directory + "/stacks", withIntermediateDirectories: true)
        let token = directory + "/agent-token"
        try "a-token".write(toFile: token, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: tokenMode], ofItemAtPath: token)
        return try ControllerBinary.writeConfig("""
            stacks_dir: \(directory)/stacks
            state_dir: \(directory)/state
            agent: { url: "https://127.0.0.1:1", token_file: \(token), pin_sha256: "\(Self.pin)" }
            """, in: directory)
    }

    @Test("a token file others can read is refused with the chmod to run, and exit 78")
    func exposedToken() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await ControllerBinary.run(["cycles", "--config", try config(tokenMode: 0o644)])
        #expect(result.exitCode == 78)
        #expect(result.stderr.contains("mode 0644") && result.stderr.contains("chmod 600 \(directory)/agent-token"), "\(result.stderr)")
    }

    @Test("a fresh state dir is made 0700 with a 0600 database; an older, looser one is tightened and the change is logged")
    func freshAndUpgraded() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = try config(tokenMode: 0o600)
        let state = directory + "/state"
        let fresh = try await ControllerBinary.run(["cycles", "--json", "--config", config])
        #expect(fresh.exitCode == 0, "\(fresh.stderr)")
        #expect(try mode(state) == 0o700)
        #expect(try mode(state + "/controller.sqlite") == 0o600)

        // As an earlier release left it: the dir and the database readable by everyone.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: state)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: state + "/controller.sqlite")
        let upgraded = try await ControllerBinary.run(["cycles", "--json", "--config", config])
        #expect(upgraded.exitCode == 0, "\(upgraded.stderr)")
        #expect(try mode(state) == 0o700)
        #expect(try mode(state + "/controller.sqlite") == 0o600)
        for file in (try FileManager.default.contentsOfDirectory(atPath: state)) where file.hasPrefix("controller.sqlite") {
            #expect(try mode(state + "/" + file) == 0o600, "\(file)")
        }
        #expect(upgraded.stderr.contains("tightened the mode of private state") && upgraded.stderr.contains("0755 → 0700"), "\(upgraded.stderr)")
    }
}
