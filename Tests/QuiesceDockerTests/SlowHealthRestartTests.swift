import DockerTesting
import Foundation
import TestSupport
import Testing

@Suite("A stack whose healthcheck takes seconds comes back from a cycle (needs docker)", .needsDocker)
struct SlowHealthRestartTests {
    @Test("a restart that finds health still `starting` counts the stack as up: one start, no retry")
    func startingHealthIsUp() async throws {
        try await withFixtureStacks(["slowstart"]) { fx in
            let (agent, token) = try await Scenario.appsAndAgent(fx, up: ["slowstart"])
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let (run, cycle) = try await controller.firstCycle()
            #expect(cycle["outcome"] as? String == "succeeded", "\(cycle)")
            #expect(cycle["stacks"] as? [String] == [fx.name("slowstart")])
            #expect(run.lines(containing: "stack restarted").count == 1, "\(run.log)")
            #expect(run.lines(containing: "will retry").isEmpty, "a slow healthcheck is not a failed start: \(run.log)")
            #expect(try await controller.statuses()[fx.name("slowstart")] == "running")
            // The app then passes its healthcheck on its own; nothing had to start it again.
            #expect(try await eventually(timeout: .seconds(120), every: .milliseconds(500)) {
                try await Docker.health(project: fx.name("slowstart")) == ["healthy", "healthy"]
            })
        }
    }
}
