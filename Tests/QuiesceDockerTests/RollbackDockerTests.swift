import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Rollback of a guest with PostgreSQL, through the controller (needs docker)", .needsDocker)
struct RollbackDockerTests {
    static func psql(_ fx: FixtureStacks, _ sql: String) async throws -> String {
        let ready = await eventually(timeout: .seconds(180), every: .milliseconds(300)) {
            (try? await Docker.run(["compose", "--project-name", fx.name("pgapp"), "exec", "-T", "db", "pg_isready", "-h", "/tmp"], in: fx.directory("pgapp")).exitCode) == 0
        }
        #expect(ready)
        let result = try await Docker.run(
            ["compose", "--project-name", fx.name("pgapp"), "exec", "-T", "db", "psql", "-h", "/tmp", "-U", "postgres", "-At", "-c", sql],
            in: fx.directory("pgapp"))
        #expect(result.exitCode == 0, "\(result.standardError)")
        return result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("write rows, back up, write more, roll back: postgres starts clean with exactly the first rows, every app runs")
    func rollback() async throws {
        try await withFixtureStacks(["pgapp", "webapp", "traefik"]) { fx in
            for fixture in ["pgapp", "webapp", "traefik"] { try await Docker.up(fx, fixture) }
            let agent = try await AgentHarness()
            let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
            try await agent.start()
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token, quiesceEnabled: true)

            _ = try await Self.psql(fx, "CREATE TABLE rows (id int); INSERT INTO rows SELECT generate_series(1, 1000);")
            let run = try await controller.start()
            #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)))
            run.stop()
            let backupID = try #require(try await controller.cycles().first?["backup_id"] as? String)
            _ = try await Self.psql(fx, "INSERT INTO rows SELECT generate_series(1001, 1500);")
            #expect(try await Self.psql(fx, "SELECT count(*) FROM rows;") == "1500")

            // docker's own clock, so `logs --since` sees exactly what the rollback's restart logged.
            let rollbackStarted = try await Docker.run(["info", "--format", "{{.SystemTime}}"]).standardOutput
                .trimmingCharacters(in: .whitespacesAndNewlines)
            let rolledBack = try await controller.cli(["rollback", backupID, "--json"])
            #expect(rolledBack.exitCode == 0, "\(rolledBack.standardOutput) \(rolledBack.standardError)")
            #expect(rolledBack.standardOutput.contains(#""kind" : "rollback""#) && rolledBack.standardOutput.contains(#""outcome" : "succeeded""#))

            let statuses = try await controller.statuses()
            for app in ["pgapp", "webapp", "traefik"] { #expect(statuses[fx.name(app)] == "running", "\(app): \(statuses)") }
            #expect(try await Self.psql(fx, "SELECT count(*) FROM rows;") == "1000")
            let logs = try await Docker.run(["compose", "--project-name", fx.name("pgapp"), "logs", "--no-color", "--since", rollbackStarted, "db"], in: fx.directory("pgapp"))
            let startLog = logs.standardOutput + logs.standardError
            #expect(startLog.contains("database system was shut down"), "\(startLog)")
            #expect(!startLog.contains("redo starts"), "\(startLog)")
            #expect(!FileManager.default.fileExists(atPath: controller.markerPath))
        }
    }

    @Test("POST /api/rollback runs a rollback cycle; a malformed body is 400")
    func rollbackThroughTheAPI() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            try await Docker.up(fx, "webapp")
            let marker = fx.directory("webapp") + "/data/version.txt"
            try "before the backup\n".write(toFile: marker, atomically: true, encoding: .utf8)
            let agent = try await AgentHarness()
            let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
            try await agent.start()
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let run = try await controller.start()
            #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)))
            let backupID = try #require(try await controller.cycles().first?["backup_id"] as? String)
            try "after the backup\n".write(toFile: marker, atomically: true, encoding: .utf8)

            #expect(try await controller.api("POST", "/api/rollback", body: "{").status == 400)
            let started = try await controller.api("POST", "/api/rollback", body: #"{"backup_id":"\#(backupID)"}"#)
            #expect(started.status == 202, "\(started)")
            #expect(await run.waitForLine("quiesce cycle finished", count: 2, timeout: .seconds(180)), "\(run.log)")
            run.stop()
            let rollback = try #require(try await controller.cycles().first)
            #expect(rollback["kind"] as? String == "rollback" && rollback["outcome"] as? String == "succeeded", "\(rollback)")
            #expect(try String(contentsOfFile: marker, encoding: .utf8) == "before the backup\n")
            #expect(try await controller.statuses()[fx.name("webapp")] == "running")
        }
    }

    @Test("a mistyped or unknown backup id, over the API and the CLI, is refused before any stack stops, and leaves no cycle")
    func mistypedID() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let (agent, token) = try await Scenario.appsAndAgent(fx, up: ["webapp"])
            // One backup now, so none is due for a day: the loop runs, and only a rollback could stop anything.
            let client = try agent.client(token: token)
            let first = try await client.startBackup(idempotencyKey: "first", .init(quiesced: false, stacks: [])).response.backupID
            #expect(try await agent.waitForFinish(client, backupID: first).phase == .done)
            #expect(try await client.backupDue().due == false)
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let before = try await Docker.startedAt(project: fx.name("webapp"))
            let run = try await controller.start()
            for bad in ["b-0", "nope", #"b-20261125T020000Z-0000aaaa\u0000junk"#, ""] {
                let answer = try await controller.api("POST", "/api/rollback", body: #"{"backup_id":"\#(bad)"}"#)
                #expect(answer.status == 400, "\(bad): \(answer)")
            }
            let cli = try await controller.cli(["rollback", "b-0"])
            #expect(cli.exitCode == 64 && cli.standardError.contains("must look like"), "\(cli.standardError)")
            // Well-formed, but no such backup: the agent's pre-flight refuses it before the marker.
            let unknown = "b-20200101T000000Z-00000000"
            let answer = try await controller.api("POST", "/api/rollback", body: #"{"backup_id":"\#(unknown)"}"#)
            #expect(answer.status == 404 && answer.body.contains("nothing was stopped"), "\(answer)")
            let refused = try await controller.cli(["rollback", unknown])
            #expect(refused.exitCode == 1 && refused.standardError.contains("nothing was stopped"), "\(refused.standardError)")
            run.stop()
            #expect(try await Docker.startedAt(project: fx.name("webapp")) == before)
            #expect(try await controller.cycles().isEmpty)
        }
    }
}
