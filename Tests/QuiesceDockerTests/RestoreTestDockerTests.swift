import AgentAPI
import DockerTesting
import Foundation
import HostAgent
import Stacks
import TestSupport
import Testing

@Suite("Agent-owned restore tests with a PostgreSQL probe (needs docker)", .needsDocker)
struct RestoreTestDockerTests {
    struct Setup {
        let fx: FixtureStacks
        let agent: AgentHarness
        let token: String
        let client: AgentClient

        /// The prefix of this agent's scratch compose projects (other tests run their own agents).
        var projectPrefix: String { "felhom-rt-" + GuestToken.digest(agent.root.path + "/state").prefix(8) }
    }

    /// postgres up, a guest over the stacks dir with the PostgreSQL probe, and the agent running.
    func setUp(_ fx: FixtureStacks) async throws -> Setup {
        try await Docker.up(fx, "pgapp")
        let agent = try await AgentHarness()
        let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
        let probe = try await agent.cli([
            "guest", "probe", "guest", "--directory", fx.name("pgapp"), "--service", "db",
            "--expect", "database system is ready to accept connections", "--reject", "redo starts", "--timeout-seconds", "180",
        ])
        #expect(probe.exitCode == 0, "\(probe.standardError)")
        try await agent.start()
        // A postgres stopped while it is still starting up needs recovery later; start from a settled server.
        try await PostgresContrastTests.write(fx, table: "settled")
        return Setup(fx: fx, agent: agent, token: token, client: try agent.client(token: token))
    }

    /// A quiesced backup through one controller cycle.
    func quiescedBackup(_ setup: Setup) async throws -> String {
        let controller = try ControllerHarness(fixtures: setup.fx, agentURL: setup.agent.baseURL, pin: setup.agent.pin, guestToken: setup.token)
        let run = try await controller.start()
        #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)))
        run.stop()
        return try #require(try await controller.cycles().first?["backup_id"] as? String)
    }

    func restoreTest(_ setup: Setup) async throws -> (exitCode: Int32?, status: RestoreTestStatus?) {
        let output = try await setup.agent.cli(["restore-test", "run", "guest", "--json"])
        let status = try? AgentJSON.decoder().decode(RestoreTestStatus.self, from: Data(output.standardOutput.utf8))
        return (output.exitCode, status)
    }

    func expectNoLeftovers(_ setup: Setup) async throws {
        let scratch = setup.agent.root.path + "/state/restore-tests"
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: scratch)) ?? []).isEmpty)
        let projects = try await Docker.run(["ps", "--all", "--format", "{{.Label \"com.docker.compose.project\"}}"]).standardOutput
        #expect(!projects.contains(setup.projectPrefix), "\(projects)")
    }

    @Test("a good backup passes, with the probe; the status is served to the controller's side")
    func passes() async throws {
        try await withFixtureStacks(["pgapp"]) { fx in
            let setup = try await setUp(fx)
            let backupID = try await quiescedBackup(setup)
            let (exitCode, status) = try await restoreTest(setup)
            #expect(exitCode == 0)
            #expect(status?.result == .passed && status?.backupID == backupID, "\(String(describing: status))")
            #expect(status?.checks.map(\.ok) == [true, true, true])
            let served = try await setup.client.restoreTestStatus()
            #expect(served.result == .passed && served.nextDueAt != nil)
            try await expectNoLeftovers(setup)
        }
    }

    @Test("one flipped byte in the archive fails the test and names the archive")
    func corrupted() async throws {
        try await withFixtureStacks(["pgapp"]) { fx in
            let setup = try await setUp(fx)
            let backupID = try await quiescedBackup(setup)
            let archive = setup.agent.repository + "/guest/\(backupID).tar.zst"
            let handle = try #require(FileHandle(forUpdatingAtPath: archive))
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: size / 2)
            let byte = try #require(try handle.read(upToCount: 1))
            try handle.seek(toOffset: size / 2)
            try handle.write(contentsOf: Data([byte[0] ^ 0x01]))
            try handle.close()

            let (exitCode, status) = try await restoreTest(setup)
            #expect(exitCode == 1)
            #expect(status?.result == .failed)
            let manifest = status?.checks.first { $0.name == "manifest" }
            #expect(manifest?.ok == false && (manifest?.detail.contains(backupID) == true), "\(String(describing: manifest))")
            try await expectNoLeftovers(setup)
        }
    }

    @Test("a backup taken while postgres wrote, without quiesce, fails the 'no redo starts' check")
    func crashConsistentFails() async throws {
        try await withFixtureStacks(["pgapp"]) { fx in
            let setup = try await setUp(fx)
            try await PostgresContrastTests.write(fx, table: "busy")
            let started = try await setup.client.startBackup(idempotencyKey: "live", StartBackupRequest(quiesced: false, stacks: []))
            #expect(try await setup.agent.waitForFinish(setup.client, backupID: started.response.backupID).phase == .done)

            let (exitCode, status) = try await restoreTest(setup)
            #expect(exitCode == 1 && status?.result == .failed)
            let reject = status?.checks.first { $0.name == "probe rejects: redo starts" }
            #expect(reject?.ok == false, "\(String(describing: status))")
            #expect(status?.checks.first { $0.name == "manifest" }?.ok == true)
            try await expectNoLeftovers(setup)
        }
    }

    @Test("a restore test killed midway leaves nothing once the agent has started again")
    func killedMidway() async throws {
        try await withFixtureStacks(["pgapp"]) { fx in
            let setup = try await setUp(fx)
            _ = try await quiescedBackup(setup)
            // A probe that waits for a line postgres never logs keeps the scratch project up until the kill.
            let probe = try await setup.agent.cli([
                "guest", "probe", "guest", "--directory", fx.name("pgapp"), "--service", "db",
                "--expect", "a line postgres never logs", "--timeout-seconds", "600",
            ])
            #expect(probe.exitCode == 0, "\(probe.standardError)")
            let run = try BackgroundProcess(
                executable: AgentHarness.binary, arguments: ["restore-test", "run", "guest", "--config", setup.agent.configPath],
                logPath: setup.agent.root.path + "/restore-test.log")
            // Killed while the probe's scratch project runs.
            let probing = await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                let projects = (try? await Docker.run(["ps", "--format", "{{.Label \"com.docker.compose.project\"}}"]).standardOutput) ?? ""
                return projects.contains(setup.projectPrefix)
            }
            #expect(probing)
            run.stop(signal: SIGKILL)
            #expect(!((try? FileManager.default.contentsOfDirectory(atPath: setup.agent.root.path + "/state/restore-tests")) ?? []).isEmpty)

            setup.agent.stop()
            try await setup.agent.start()
            try await expectNoLeftovers(setup)
            let ops = try await setup.agent.cli(["ops", "--json"])
            #expect(ops.standardOutput.contains("agent restarted during restore test"), "\(ops.standardOutput)")
        }
    }
}
