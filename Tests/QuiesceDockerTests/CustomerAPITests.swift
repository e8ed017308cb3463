import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("The customer API of a running controller (needs docker)", .needsDocker)
struct CustomerAPITests {
    @Test("401 without the token, 400 for a bad name, 404 unknown, 403 protected, 409 while a cycle holds the stack")
    func statuses() async throws {
        try await withFixtureStacks(["webapp", "traefik"]) { fx in
            // The window is held open long enough to ask the API while the cycle holds the stack.
            let (agent, token) = try await Scenario.appsAndAgent(
                fx, up: ["webapp", "traefik"], bulkBytes: 10_000_000, agentEnvironment: ["FELHOM_AGENT_FAILPOINT": "backup.window=15"])
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let run = try await controller.start()
            let webapp = fx.name("webapp")

            #expect(try await controller.api("GET", "/healthz", token: "").status == 200)
            #expect(try await controller.api("GET", "/api/stacks", token: "").status == 401)
            #expect(try await controller.api("GET", "/api/stacks", token: "wrong").status == 401)

            // While the cycle holds webapp down, a customer restart is refused.
            #expect(await run.waitForLine("backup started", timeout: .seconds(120)))
            let held = try await controller.api("POST", "/api/stacks/\(webapp)/restart")
            #expect(held.status == 409 && held.body.contains("quiescing"), "\(held)")
            let during = try await controller.api("GET", "/api/backup")
            #expect(during.status == 200 && during.body.contains(#""state":"quiescing""#) && during.body.contains(webapp), "\(during.body)")

            #expect(await run.waitForLine("quiesce cycle finished", timeout: .seconds(180)))
            #expect(try await controller.api("POST", "/api/stacks/Bad_Name/restart").status == 400)
            #expect(try await controller.api("POST", "/api/stacks/\(fx.prefix)-nothing/start").status == 404)
            let protected = try await controller.api("POST", "/api/stacks/\(fx.name("traefik"))/stop")
            #expect(protected.status == 403 && protected.body.contains("protected"))

            let restarted = try await controller.api("POST", "/api/stacks/\(webapp)/restart")
            #expect(restarted.status == 200 && restarted.body.contains(#""status":"running""#), "\(restarted)")
            let after = try await controller.api("GET", "/api/backup")
            #expect(after.body.contains(#""state":"idle""#) && after.body.contains(#""outcome":"succeeded""#), "\(after.body)")
            // The agent's restore-test status is shown; the controller never runs one.
            #expect(after.body.contains(#""restore_test":{"#) && after.body.contains(#""agent_error":null"#), "\(after.body)")

            // GET /api/stacks returns the same objects as `stacks list --json`. The restart set web's
            // health back to `starting`; compare once it has settled, or the two reads could straddle the change.
            #expect(await eventually {
                let body = (try? await controller.api("GET", "/api/stacks").body) ?? ""
                let stacks = (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? []
                let services = stacks.first { $0["name"] as? String == webapp }?["services"] as? [[String: Any]] ?? []
                return services.contains { $0["health"] as? String == "healthy" }
            })
            let listed = try await controller.api("GET", "/api/stacks")
            let viaAPI = try JSONSerialization.jsonObject(with: Data(listed.body.utf8)) as? [[String: Any]]
            let viaCLI = try JSONSerialization.jsonObject(with: Data(try await controller.cli(["stacks", "list", "--json"]).standardOutput.utf8)) as? [[String: Any]]
            // Only this test's stacks: other tests' projects on the same engine come and go between the two calls.
            let mine = { (stacks: [[String: Any]]?) in NSArray(array: (stacks ?? []).filter { ($0["name"] as? String)?.hasPrefix(fx.prefix) == true }) }
            #expect(mine(viaAPI) == mine(viaCLI) && mine(viaAPI).count == 2)
            run.stop()
        }
    }
}
