import Foundation
import Stacks
import TestSupport
import Testing

/// A state dir written by release 0.9.0 opens in this build: both databases were made by the
/// 0.9.0 binaries (a guest, a finished quiesced backup, and its cycle) and are checked in as
/// they were. When a migration is added, these files must still open and keep their rows.
@Suite("State from the previous release's schema opens in this one")
struct SchemaUpgradeTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/Fixtures/schema-0.9.0"
    static let backupID = "b-20261201T183816Z-c33140cc"

    static func run(_ executable: String, _ arguments: [String]) async throws -> CommandOutput {
        try await SubprocessCommandRunner().run(DockerCommand(executable: executable, arguments: arguments, timeout: .seconds(120)))
    }

    /// A fresh state dir holding a copy of the checked-in database.
    static func stateDirectory(_ root: TemporaryDirectory, _ database: String) throws -> String {
        let state = root.path + "/state"
        try FileManager.default.createDirectory(atPath: state, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try FileManager.default.copyItem(atPath: fixtures + "/" + database, toPath: state + "/" + database)
        return state
    }

    @Test("the agent's 0.9.0 journal: its guests, ops and backups are all still there")
    func agentJournal() async throws {
        let root = try TemporaryDirectory("felhom-upgrade")
        let state = try Self.stateDirectory(root, "agent.sqlite")
        try FileManager.default.createDirectory(atPath: root.path + "/repo", withIntermediateDirectories: true)
        let config = root.path + "/agent.yaml"
        try "listen: 127.0.0.1:0\nstate_dir: \(state)\nrepository: \(root.path)/repo\n".write(toFile: config, atomically: true, encoding: .utf8)

        let backups = try await Self.run(AgentHarness.binary, ["backups", "--json", "--config", config])
        #expect(backups.exitCode == 0, "\(backups.standardError)")
        let listed = (try? JSONSerialization.jsonObject(with: Data(backups.standardOutput.utf8))) as? [[String: Any]] ?? []
        #expect(listed.contains { $0["backup_id"] as? String == Self.backupID && $0["phase"] as? String == "done" }, "\(backups.standardOutput)")
        #expect(listed.count == 2)
        let guests = try await Self.run(AgentHarness.binary, ["guest", "list", "--json", "--config", config])
        #expect(guests.exitCode == 0 && guests.standardOutput.contains("ctl") && guests.standardOutput.contains("shop"), "\(guests)")
        let ops = try await Self.run(AgentHarness.binary, ["ops", "--json", "--config", config])
        #expect(ops.exitCode == 0 && ops.standardOutput.contains(Self.backupID), "\(ops)")
    }

    @Test("the controller's 0.9.0 cycle records are all still there")
    func controllerCycles() async throws {
        let root = try TemporaryDirectory("felhom-upgrade")
        let state = try Self.stateDirectory(root, "controller.sqlite")
        try FileManager.default.createDirectory(atPath: root.path + "/stacks", withIntermediateDirectories: true)
        let config = root.path + "/controller.yaml"
        try "stacks_dir: \(root.path)/stacks\nstate_dir: \(state)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let cycles = try await Self.run(ControllerHarness.binary, ["cycles", "--json", "--config", config])
        #expect(cycles.exitCode == 0, "\(cycles.standardError)")
        let records = (try? JSONSerialization.jsonObject(with: Data(cycles.standardOutput.utf8))) as? [[String: Any]] ?? []
        #expect(records.count == 1 && records.first?["backup_id"] as? String == Self.backupID && records.first?["outcome"] as? String == "succeeded",
                "\(cycles.standardOutput)")
    }
}
