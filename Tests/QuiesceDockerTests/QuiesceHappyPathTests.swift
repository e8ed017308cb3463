import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("The quiesce loop on the real engine against a real agent (needs docker)", .needsDocker)
struct QuiesceHappyPathTests {
    @Test("a due backup stops the app stacks, backs them up at rest, restarts them, and leaves the rest alone")
    func happyPath() async throws {
        try await withFixtureStacks(["webapp", "pgapp", "sidecar", "traefik", "stubborn"]) { fx in
            for fixture in ["webapp", "pgapp", "sidecar", "traefik", "stubborn"] { try await Docker.up(fx, fixture) }
            // Stopped before the cycle: it must stay stopped.
            try await Docker.stop(fx, "stubborn")
            let protectedBefore = try await Docker.startedAt(project: fx.name("traefik"))

            let agent = try await AgentHarness()
            let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
            try await agent.start()
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let (_, cycle) = try await controller.firstCycle()
            #expect(cycle["outcome"] as? String == "succeeded", "\(cycle)")
            #expect(cycle["consistency"] as? String == "app")
            let apps = ["pgapp", "sidecar", "webapp"].map(fx.name)
            #expect((cycle["stacks"] as? [String]).map(Set.init) == Set(apps))
            #expect(Set((cycle["downtime_ms"] as? [String: Int])?.keys.map { $0 } ?? []) == Set(apps))

            let statuses = try await controller.statuses()
            for app in apps { #expect(statuses[app] == "running", "\(app)") }
            #expect(statuses[fx.name("stubborn")] == "stopped")
            #expect(try await Docker.startedAt(project: fx.name("traefik")) == protectedBefore)
            #expect(!FileManager.default.fileExists(atPath: controller.markerPath))

            // The archive holds each app's clean-shutdown evidence, written on SIGTERM before the backup.
            let backupID = try #require(cycle["backup_id"] as? String)
            let restored = agent.root.path + "/restored"
            let restore = try await agent.cli(["restore", backupID, "--to", restored])
            #expect(restore.exitCode == 0, "\(restore.standardError)")
            for evidence in [
                "\(fx.name("webapp"))/data/web.shutdown", "\(fx.name("webapp"))/data/worker.shutdown",
                "\(fx.name("sidecar"))/data/app.shutdown", "\(fx.name("pgapp"))/data/pg/PG_VERSION",
            ] {
                #expect(FileManager.default.fileExists(atPath: "\(restored)/\(evidence)"), "\(evidence)")
            }
            // A cleanly stopped postgres removes its pid file.
            #expect(!FileManager.default.fileExists(atPath: "\(restored)/\(fx.name("pgapp"))/data/pg/postmaster.pid"))
            // The running apps delete their evidence again as they start: it was captured while they were down.
            #expect(await eventually { !FileManager.default.fileExists(atPath: "\(fx.directory("webapp"))/data/web.shutdown") })
        }
    }
}
