import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Every failure ends with every stopped stack running (needs docker)", .needsDocker)
struct QuiesceFailureTests {
    static let apps = ["webapp", "sidecar"]

    /// Brings the apps up, runs one controller cycle against `agentURL`, and checks they are all running afterwards.
    func runCycle(
        _ fx: FixtureStacks, agentURL: String, pin: String, token: String, maxQuiesceSeconds: Double = 600,
        during: (BackgroundProcess) async throws -> Void = { _ in }
    ) async throws -> [String: Any] {
        // A failed backup stays due; a slow poll keeps the loop from cycling the stacks again and again meanwhile.
        let controller = try ControllerHarness(
            fixtures: fx, agentURL: agentURL, pin: pin, guestToken: token, pollSeconds: 5, maxQuiesceSeconds: maxQuiesceSeconds)
        let run = try await controller.start()
        try await during(run)
        #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)), "\(run.log)")
        run.stop()
        let statuses = try await controller.statuses()
        for app in Self.apps { #expect(statuses[fx.name(app)] == "running", "\(app): \(run.log)") }
        #expect(!FileManager.default.fileExists(atPath: controller.markerPath))
        // The first cycle: when it failed, the backup is still due and the loop may have begun another.
        return try #require(try await controller.cycles().last)
    }

    @Test("the agent answers 500 to POST /backup")
    func startBackup500() async throws {
        try await withFixtureStacks(Self.apps) { fx in
            for app in Self.apps { try await Docker.up(fx, app) }
            let identity = try await AgentHarness()
            try await ScriptedAgent(identity: identity).serve { url in
                let cycle = try await runCycle(fx, agentURL: url, pin: identity.pin, token: "any-token")
                #expect(cycle["outcome"] as? String == "failed")
                #expect((cycle["error"] as? String)?.contains("500") == true, "\(cycle)")
                #expect(cycle["backup_id"] == nil || cycle["backup_id"] is NSNull)
            }
        }
    }

    @Test("the backup's phase is failed")
    func phaseFailed() async throws {
        try await withFixtureStacks(Self.apps) { fx in
            for app in Self.apps { try await Docker.up(fx, app) }
            let agent = try await AgentHarness()
            // A data dir that does not exist fails the backup on the agent.
            let token = try await agent.addGuest("guest", dataDirectory: fx.root + "/no-such-dir")
            try await agent.start()
            let cycle = try await runCycle(fx, agentURL: agent.baseURL, pin: agent.pin, token: token)
            #expect(cycle["outcome"] as? String == "failed" && cycle["phase_reached"] as? String == "failed", "\(cycle)")
        }
    }

    @Test("the agent is killed during the poll: the stacks restart at the bound and the backup is crash-consistent")
    func agentKilled() async throws {
        try await withFixtureStacks(Self.apps) { fx in
            // The agent holds the window, so it dies while the stacks are down, whatever the data size.
            let (agent, token) = try await Scenario.appsAndAgent(
                fx, up: Self.apps, bulkBytes: 10_000_000, agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.window=120"])
            let started = ContinuousClock.now
            // Generous, so that slow stops on a loaded machine cannot use the bound up before the backup starts.
            let cycle = try await runCycle(fx, agentURL: agent.baseURL, pin: agent.pin, token: token, maxQuiesceSeconds: 20) { run in
                #expect(await run.waitForLine("backup started", timeout: .seconds(60)))
                agent.stop(signal: SIGKILL)
            }
            #expect(started.duration(to: .now) >= .seconds(20))
            #expect(cycle["outcome"] as? String == "failed" && cycle["consistency"] as? String == "crash", "\(cycle)")
            #expect((cycle["error"] as? String)?.contains("max_quiesce_seconds") == true)

            try await agent.start()
            let status = try await agent.client(token: token).backupStatus(backupID: cycle["backup_id"] as? String)
            #expect(status.phase == .failed && status.error == "agent restarted during backup")
        }
    }

    @Test("max_quiesce_seconds is reached: the stacks restart, and the agent records the backup as crash-consistent")
    func bound() async throws {
        try await withFixtureStacks(Self.apps) { fx in
            // The bound must fall while polling: the stops can take several seconds on a loaded machine,
            // so the bound is generous and the agent holds the backup in `running` well past it.
            let (agent, token) = try await Scenario.appsAndAgent(
                fx, up: Self.apps, bulkBytes: 10_000_000, agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.running=45"])
            let cycle = try await runCycle(fx, agentURL: agent.baseURL, pin: agent.pin, token: token, maxQuiesceSeconds: 20)
            #expect(cycle["outcome"] as? String == "failed" && cycle["consistency"] as? String == "crash", "\(cycle)")
            let client = try agent.client(token: token)
            let backupID = try #require(cycle["backup_id"] as? String)
            let final = try await agent.waitForFinish(client, backupID: backupID)
            #expect(final.phase == .done && final.consistency == .crash)
        }
    }

    @Test("SIGTERM while polling restarts the stacks before the controller exits")
    func sigterm() async throws {
        try await withFixtureStacks(Self.apps) { fx in
            // The window would otherwise be over in milliseconds: the agent holds it until the SIGTERM has come.
            let (agent, token) = try await Scenario.appsAndAgent(
                fx, up: Self.apps, bulkBytes: 10_000_000, agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.window=60"])
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let run = try await controller.start()
            #expect(await run.waitForLine("backup started", timeout: .seconds(120)))
            run.stop(signal: SIGTERM)
            #expect(run.exitStatus == 0, "\(run.log)")
            let statuses = try await controller.statuses()
            for app in Self.apps { #expect(statuses[fx.name(app)] == "running", "\(app)") }
            #expect(!FileManager.default.fileExists(atPath: controller.markerPath))
            let cycle = try #require(try await controller.cycles().first)
            #expect(cycle["consistency"] as? String == "crash" && cycle["phase_reached"] as? String == "running", "\(cycle)")
        }
    }
}
