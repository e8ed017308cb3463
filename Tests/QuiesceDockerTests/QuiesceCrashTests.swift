import AgentAPI
import DockerTesting
import Foundation
import Quiesce
import Stacks
import TestSupport
import Testing

@Suite("SIGKILL the controller at every named point of a cycle (needs docker)", .needsDocker)
struct QuiesceCrashTests {
    /// The failpoint at which the controller is killed, for each point.
    static let points: [(name: String, failpoint: String)] = [
        ("after the marker is written", ControllerFailpoint.afterMarker),
        ("during the stops", ControllerFailpoint.afterFirstStop),
        ("after POST /backup", ControllerFailpoint.afterStart),
        ("while polling", ControllerFailpoint.polling),
        ("during the restarts", ControllerFailpoint.restarting),
    ]
    static let apps = ["webapp", "sidecar"]
    static let rounds = 3

    @Test("a fresh controller restarts exactly the marker's stacks and clears the marker, every time")
    func killAtEveryPoint() async throws {
        try await withFixtureStacks(Self.apps + ["stubborn"]) { fx in
            for fixture in Self.apps + ["stubborn"] { try await Docker.up(fx, fixture) }
            try await Docker.stop(fx, "stubborn")
            // Enough data that the poll lasts long enough to be interrupted.
            try Data(randomBytes(300_000_000)).write(to: URL(fileURLWithPath: fx.directory("webapp") + "/data/big.bin"))
            let agent = try await AgentHarness()
            let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
            // The window would otherwise be over before the first poll: held 3 s, "while polling" is always reached.
            try await agent.start(environment: ["FELHOM_AGENT_FAILPOINT": "backup.window=3"])
            let client = try agent.client(token: token)
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let apps = Set(Self.apps.map(fx.name))

            var table: [(point: String, round: Int, outcome: String)] = []
            for point in Self.points {
                for round in 1...Self.rounds {
                    // One backup at a time: let the previous one finish, then make the next one due.
                    // A backup still running would turn the next POST /backup into a conflict, and the point would never be reached.
                    // A prepare left `ready` by a kill before POST /backup blocks nothing: the next prepare supersedes it.
                    #expect(await eventually(timeout: .seconds(600)) {
                        guard let latest = try? await client.backupStatus(backupID: nil) else { return true }
                        return ![.queued, .running, .snapshotted].contains(latest.phase)
                    }, "\(point.name) round \(round): the previous backup never finished")
                    #expect(try await agent.cli(["backup", "request", "guest"]).exitCode == 0)

                    let run = try await controller.start(environment: ["FELHOM_CONTROLLER_FAILPOINT": point.failpoint])
                    let reached = await run.waitForLine("failpoint=\(point.failpoint)", timeout: .seconds(120))
                    run.stop(signal: SIGKILL)
                    #expect(reached, "\(point.name): failpoint \(point.failpoint) never reached")

                    let marker = FileManager.default.contents(atPath: controller.markerPath)
                    let markerStacks = marker.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }?["stacks"] as? [String]
                    let recovered = try await controller.cli(["recover", "--json"])
                    let answer = try JSONSerialization.jsonObject(with: Data(recovered.standardOutput.utf8)) as? [String: Any]
                    let statuses = try await controller.statuses()
                    let allUp = apps.allSatisfy { statuses[$0] == "running" }
                    let stubbornDown = statuses[fx.name("stubborn")] == "stopped"
                    let cleared = !FileManager.default.fileExists(atPath: controller.markerPath)

                    #expect(recovered.exitCode == 0, "\(recovered.standardError)")
                    #expect(markerStacks.map(Set.init) == apps, "\(point.name) round \(round): marker \(String(describing: markerStacks))")
                    #expect(answer?["recovered"] as? Bool == true && (answer?["stacks"] as? [String]).map(Set.init) == apps)
                    #expect(allUp && stubbornDown && cleared, "\(point.name) round \(round): \(statuses)")
                    let outcome = !reached ? "point not reached"
                        : allUp && stubbornDown && cleared && markerStacks.map(Set.init) == apps ? "marker's stacks restarted, marker cleared"
                        : "FAILED: \(statuses), marker cleared \(cleared)"
                    table.append((point.name, round, outcome))
                }
            }
            print("\nSIGKILL point                | round | outcome")
            print("-----------------------------|-------|--------")
            for row in table {
                print("\(row.point.padding(toLength: 28, withPad: " ", startingAt: 0)) | \(row.round)     | \(row.outcome)")
            }
        }
    }
}
