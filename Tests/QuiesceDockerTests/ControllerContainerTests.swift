import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// The controller in its container, from the image the build script made, with the agent on the host.
///
/// Serialized: every test deploys the one project `felhom-controller`.
@Suite("The controller as it runs in the field: its container, its restart policy, docker stop (needs docker)", .needsDocker, .serialized)
struct ControllerContainerTests {
    static let apps = ["webapp", "sidecar"]

    /// Apps up with data to back up, an agent on the host with one finished backup (so the guest
    /// is due only when a test asks), and the controller's stack written but not yet up.
    static func deployment(
        agentEnvironment: [String: String] = [:],
        _ body: (FixtureStacks, AgentHarness, AgentClient, ControllerContainer) async throws -> Void
    ) async throws {
        try await withFixtureStacks(Self.apps) { fx in
            let (agent, token) = try await Scenario.appsAndAgent(fx, up: Self.apps, bulkBytes: 50_000_000, agentEnvironment: agentEnvironment)
            let client = try agent.client(token: token)
            let first = try await client.startBackup(idempotencyKey: "first", .init(quiesced: false, stacks: [])).response.backupID
            #expect(try await agent.waitForFinish(client, backupID: first).phase == .done)
            let container = try await ControllerContainer(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            do {
                try await body(fx, agent, client, container)
            } catch {
                Issue.record("controller container log:\n\(await container.logs())")
                await container.down()
                throw error
            }
            await container.down()
        }
    }

    /// Makes a backup due and waits until the cycle holds the apps down and the agent runs the backup.
    static func holdApps(_ fx: FixtureStacks, _ agent: AgentHarness, _ client: AgentClient, _ container: ControllerContainer) async throws -> [String] {
        #expect(try await agent.cli(["backup", "request", "guest"]).exitCode == 0)
        let apps = Self.apps.map(fx.name)
        let held = try await eventually(timeout: .seconds(180), every: .milliseconds(200)) {
            guard FileManager.default.fileExists(atPath: container.markerPath),
                  try await client.backupStatus(backupID: nil).phase == .running else { return false }
            return try await container.running(apps).values.allSatisfy { !$0 }
        }
        guard held else { throw HarnessError("the cycle never held the apps down while the backup ran") }
        let marker = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: container.markerPath))) as? [String: Any]
        return (marker?["stacks"] as? [String] ?? []).sorted()
    }

    @Test("a full quiesce cycle from the container: the apps stop and restart, the controller's own container never stops; the customer API answers on its port")
    func fullCycle() async throws {
        // The agent holds the backup in `running` long enough for the 409 to be asked reliably.
        try await Self.deployment(agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.running=20"]) { fx, agent, client, container in
            try await container.up()
            #expect(await eventually(timeout: .seconds(240), every: .seconds(1)) {
                (try? await container.inspect("{{.State.Health.Status}}")) == "healthy"
            }, "the image's HEALTHCHECK never passed")
            let startedAt = try await container.inspect("{{.State.StartedAt}}")
            let webapp = fx.name("webapp")

            let listed = try await container.api("GET", "/api/stacks")
            #expect(listed.status == 200 && listed.body.contains(webapp) && listed.body.contains(#""felhom-controller""#), "\(listed)")
            let restarted = try await container.api("POST", "/api/stacks/\(webapp)/restart")
            #expect(restarted.status == 200, "\(restarted)")
            let ownStop = try await container.api("POST", "/api/stacks/felhom-controller/stop")
            #expect(ownStop.status == 403, "\(ownStop)")

            let held = try await Self.holdApps(fx, agent, client, container)
            #expect(held == Self.apps.map(fx.name).sorted())
            let refused = try await container.api("POST", "/api/stacks/\(webapp)/restart")
            #expect(refused.status == 409 && refused.body.contains("quiescing"), "\(refused)")

            var cycle: [String: Any]?
            #expect(await eventually(timeout: .seconds(300), every: .seconds(1)) {
                cycle = try? await container.cycles().first { $0["kind"] as? String == "backup" }
                return cycle?["outcome"] != nil
            })
            #expect(cycle?["outcome"] as? String == "succeeded", "\(cycle ?? [:])")
            #expect((cycle?["stacks"] as? [String])?.sorted() == held)
            #expect(try await container.running(Self.apps.map(fx.name)).values.allSatisfy { $0 })
            #expect(try await container.inspect("{{.State.StartedAt}} {{.RestartCount}} {{.State.Running}}") == "\(startedAt) 0 true")
            #expect(!FileManager.default.fileExists(atPath: container.markerPath))
        }
    }

    @Test("SIGKILL of the container's main process while the apps are down, 3 times: the restart policy brings it back, and its recovery restarts exactly the marker's stacks")
    func crashInTheField() async throws {
        // Held long enough that the kill always lands before the cycle could finish on its own.
        try await Self.deployment(agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.running=30"]) { fx, agent, client, container in
            try await container.up()
            var table: [(round: Int, outcome: String)] = []
            for round in 1...3 {
                #expect(await eventually(timeout: .seconds(300)) {
                    guard let latest = try? await client.backupStatus(backupID: nil) else { return false }
                    return latest.phase == .done || latest.phase == .failed
                }, "round \(round): the previous backup never finished")
                let held = try await Self.holdApps(fx, agent, client, container)
                let marker = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: container.markerPath))) as? [String: Any]
                let cycleID = marker?["cycle_id"] as? String
                let restarts = Int(try await container.inspect("{{.RestartCount}}")) ?? 0
                let pid = Int32(try await container.inspect("{{.State.Pid}}")) ?? 0
                #expect(pid > 1)
                kill(pid, SIGKILL)

                let back = await eventually(timeout: .seconds(240), every: .milliseconds(500)) {
                    (try? await container.inspect("{{.RestartCount}} {{.State.Running}}")) == "\(restarts + 1) true"
                }
                let recovered = await eventually(timeout: .seconds(240), every: .milliseconds(500)) {
                    guard !FileManager.default.fileExists(atPath: container.markerPath) else { return false }
                    return (try? await container.running(Self.apps.map(fx.name)).values.allSatisfy { $0 }) == true
                }
                let record = try await container.cycles().first { $0["id"] as? String == cycleID }
                let stacks = (record?["stacks"] as? [String])?.sorted()
                // `recovered`, not `succeeded`: the kill, not the cycle, ended the run.
                #expect(record?["outcome"] as? String == "recovered", "round \(round): \(String(describing: record))")
                #expect(back, "round \(round): the restart policy did not bring the container back")
                if !recovered {
                    Issue.record("round \(round): the marker's stacks did not come back, or the marker stayed:\n\(await container.logs())")
                }
                #expect(held == Self.apps.map(fx.name).sorted() && stacks == held, "round \(round): marker \(held), record \(String(describing: record))")
                table.append((round, back && recovered && stacks == held && record?["outcome"] as? String == "recovered"
                    ? "container restarted (RestartCount \(restarts + 1)); \(held.count) stacks restarted; marker cleared"
                    : "FAILED: back \(back), recovered \(recovered), record stacks \(String(describing: stacks))"))
            }
            print("\nSIGKILL of the container's main pid | round | afterwards")
            print("-----------------------------------|-------|-----------")
            for row in table { print("while the apps are down             | \(row.round)     | \(row.outcome)") }
        }
    }

    @Test("docker stop mid-cycle: the held stacks run again before the container exits, within its grace period")
    func dockerStop() async throws {
        try await Self.deployment(agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.running=60"]) { fx, agent, client, container in
            try await container.up()
            _ = try await Self.holdApps(fx, agent, client, container)
            let id = try await container.containerID()
            // No --time: docker uses the stop_grace_period compose.yaml set on the container.
            let stopped = try await Docker.run(["stop", id], timeout: .seconds(400))
            #expect(stopped.exitCode == 0, "\(stopped.standardError)")

            let state = try await container.inspect("{{.State.Running}} {{.State.ExitCode}} {{.Config.StopTimeout}}")
            // Exit 0, not docker's 137: the controller finished before the grace period ran out.
            #expect(state == "false 0 180", "\(state)")
            let finishedAt = try await container.inspect("{{.State.FinishedAt}}")
            let apps = Self.apps.map(fx.name)
            #expect(try await container.running(apps).values.allSatisfy { $0 }, "the held stacks were left down")
            for app in apps {
                let started = try await Docker.startedAt(project: app)
                #expect(!started.isEmpty && started.values.allSatisfy { Self.instant($0) < Self.instant(finishedAt) },
                        "\(app) started \(started) after the controller exited at \(finishedAt)")
            }
            #expect(!FileManager.default.fileExists(atPath: container.markerPath))
        }
    }

    @Test("a stacks dir mounted at another path inside is refused at startup, with a message naming both paths")
    func wrongMount() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let (agent, token) = try await Scenario.appsAndAgent(fx, up: ["webapp"])
            let container = try await ControllerContainer(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let inside = "/srv/elsewhere/stacks"
            let config = try String(contentsOfFile: container.configDirectory + "/controller.yaml", encoding: .utf8)
                .replacingOccurrences(of: "stacks_dir: \(fx.stacksDirectory)", with: "stacks_dir: \(inside)")
            try config.write(toFile: container.configDirectory + "/controller.yaml", atomically: true, encoding: .utf8)
            let socketGroup = try FileManager.default.attributesOfItem(atPath: "/var/run/docker.sock")[.groupOwnerAccountID] as? Int ?? 0
            let result = try await Docker.run([
                "run", "--rm", "--network", "host", "--group-add", "\(socketGroup)",
                "-v", "/var/run/docker.sock:/var/run/docker.sock",
                "-v", "\(fx.stacksDirectory):\(inside)",
                "-v", "\(fx.stateDirectory):/var/lib/felhom-controller",
                "-v", "\(container.configDirectory):/etc/felhom:ro",
                ControllerContainer.image, "run",
            ], timeout: .seconds(180))
            #expect(result.exitCode == 78, "\(result)")
            #expect(result.standardError.contains("stacks_dir \(inside) is mounted from \(fx.stacksDirectory) on the host"), "\(result.standardError)")
            #expect(try await container.running([fx.name("webapp")]) == [fx.name("webapp"): true])
        }
    }

    static func instant(_ text: String) -> Date {
        // Docker prints nanoseconds, which ISO8601DateFormatter cannot read; milliseconds order a start before a later exit.
        // An unreadable time fails the ordering it is used in (distantFuture is never before anything).
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let trimmed = text.replacingOccurrences(of: #"(\.\d{3})\d*"#, with: "$1", options: .regularExpression)
        return formatter.date(from: trimmed) ?? .distantFuture
    }
}
