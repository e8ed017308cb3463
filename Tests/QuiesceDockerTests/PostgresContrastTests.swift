import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// Why quiescing matters, shown by PostgreSQL itself: a backup of a cleanly stopped
/// server starts without recovery; one of a running server has to replay its WAL.
@Suite("PostgreSQL restored from a quiesced backup and from a live one (needs docker)", .needsDocker)
struct PostgresContrastTests {
    /// Writes rows, so the WAL holds work since the last checkpoint.
    static func write(_ fx: FixtureStacks, table: String) async throws {
        // initdb on the first start fsyncs hundreds of files; beside other tests' backups that takes a while.
        let ready = await eventually(timeout: .seconds(180), every: .milliseconds(300)) {
            (try? await Docker.run(["compose", "--project-name", fx.name("pgapp"), "exec", "-T", "db", "pg_isready", "-h", "/tmp"], in: fx.directory("pgapp")).exitCode) == 0
        }
        #expect(ready)
        let sql = "CREATE TABLE \(table) (id int, note text); INSERT INTO \(table) SELECT g, repeat('x', 200) FROM generate_series(1, 50000) g;"
        let result = try await Docker.run(
            ["compose", "--project-name", fx.name("pgapp"), "exec", "-T", "db", "psql", "-h", "/tmp", "-U", "postgres", "-c", sql],
            in: fx.directory("pgapp"))
        #expect(result.exitCode == 0, "\(result.standardError)")
    }

    /// Restores the backup, starts postgres on the restored data as another stack, and returns its log.
    static func startRestored(_ fx: FixtureStacks, agent: AgentHarness, backupID: String, as suffix: String) async throws -> String {
        let restored = agent.root.path + "/restored-\(suffix)"
        let restore = try await agent.cli(["restore", backupID, "--to", restored])
        #expect(restore.exitCode == 0, "\(restore.standardError)")
        try fx.addCopy(of: "pgapp", as: suffix)
        try? FileManager.default.removeItem(atPath: fx.directory(suffix) + "/data")
        try FileManager.default.moveItem(atPath: "\(restored)/\(fx.name("pgapp"))/data", toPath: fx.directory(suffix) + "/data")
        try await Docker.up(fx, suffix)
        var log = ""
        let started = await eventually(timeout: .seconds(180), every: .milliseconds(300)) {
            log = (try? await Docker.run(["compose", "--project-name", fx.name(suffix), "logs", "--no-color", "db"], in: fx.directory(suffix)))
                .map { $0.standardOutput + $0.standardError } ?? ""
            return log.contains("database system is ready to accept connections")
        }
        #expect(started, "the restored postgres never became ready: \(log)")
        return log
    }

    @Test("quiesced: 'database system was shut down', no redo; live: 'redo starts'")
    func contrast() async throws {
        try await withFixtureStacks(["pgapp"]) { fx in
            try await Docker.up(fx, "pgapp")
            let agent = try await AgentHarness()
            let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
            try await agent.start()

            // Quiesced, through the controller.
            try await Self.write(fx, table: "quiesced")
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let run = try await controller.start()
            #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)))
            run.stop()
            let cycle = try #require(try await controller.cycles().first)
            #expect(cycle["outcome"] as? String == "succeeded", "\(cycle)")
            let quiescedLog = try await Self.startRestored(fx, agent: agent, backupID: try #require(cycle["backup_id"] as? String), as: "fromquiesced")
            #expect(quiescedLog.contains("database system was shut down"), "\(quiescedLog)")
            #expect(!quiescedLog.contains("redo starts"), "\(quiescedLog)")

            // Live: quiesce disabled, postgres running and just written to.
            try await Self.write(fx, table: "live")
            let client = try agent.client(token: token)
            let started = try await client.startBackup(idempotencyKey: "live", StartBackupRequest(quiesced: false, stacks: []))
            let status = try await agent.waitForFinish(client, backupID: started.response.backupID)
            #expect(status.phase == .done && status.consistency == .crash)
            let liveLog = try await Self.startRestored(fx, agent: agent, backupID: started.response.backupID, as: "fromlive")
            #expect(liveLog.contains("redo starts"), "\(liveLog)")
            #expect(!liveLog.contains("database system was shut down at"), "\(liveLog)")
        }
    }
}
