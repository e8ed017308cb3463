import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// Stopping dockerd takes every container on the engine down, so this runs alone:
/// scripts/test.sh runs it in a second `swift test` with FELHOM_DAEMON_STOP_TEST=1.
@Suite(
    "The docker daemon stops during the backup (needs docker, runs alone)", .needsDocker,
    .enabled(if: ProcessInfo.processInfo.environment["FELHOM_DAEMON_STOP_TEST"] == "1", "scripts/test.sh runs it on its own"))
struct DockerDaemonStopTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    @Test("the marker stays while docker is gone; once it is back, the stacks run and the marker is cleared")
    func daemonStops() async throws {
        try await withFixtureStacks(["webapp", "sidecar"]) { fx in
            // The window is held open until dockerd is gone, so the restarts meet no engine.
            let (agent, token) = try await Scenario.appsAndAgent(
                fx, up: ["webapp", "sidecar"], bulkBytes: 10_000_000, agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.window=30"])
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let run = try await controller.start()
            #expect(await run.waitForLine("backup started", timeout: .seconds(120)))

            let runner = SubprocessCommandRunner()
            let stopped = try await runner.run(DockerCommand(executable: "pkill", arguments: ["-TERM", "-x", "dockerd"], timeout: .seconds(10)))
            #expect(stopped.exitCode == 0)
            #expect(await eventually(timeout: .seconds(60)) {
                (try? await runner.run(DockerCommand(executable: "docker", arguments: ["info"], timeout: .seconds(10))).exitCode) != 0
            })

            // The backup finishes without docker; the restarts fail and are retried; the marker stays.
            #expect(await run.waitForLine("restarting a stack failed", timeout: .seconds(120)), "\(run.log)")
            #expect(FileManager.default.fileExists(atPath: controller.markerPath))

            let started = try await runner.run(DockerCommand(
                executable: "bash", arguments: [Self.repository + "/scripts/start-dockerd.sh"], timeout: .seconds(200)))
            #expect(started.exitCode == 0, "\(started.standardError)")

            #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)), "\(run.log)")
            run.stop()
            let statuses = try await controller.statuses()
            for app in ["webapp", "sidecar"] { #expect(statuses[fx.name(app)] == "running", "\(app): \(statuses)") }
            #expect(!FileManager.default.fileExists(atPath: controller.markerPath))
        }
    }
}
