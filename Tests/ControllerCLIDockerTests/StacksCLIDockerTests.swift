import DockerTesting
import Foundation
import TestSupport
import Testing

@Suite("felhom-controller stacks commands on the real engine (needs docker)", .needsDocker)
struct StacksCLIDockerTests {
    func config(_ fx: FixtureStacks, protected: [String] = []) throws -> String {
        try ControllerBinary.writeConfig("""
            stacks_dir: \(fx.stacksDirectory)
            state_dir: \(fx.stateDirectory)
            protected: [\(protected.joined(separator: ", "))]
            docker:
              binary: docker
              command_timeout_seconds: 120
            """, in: fx.root)
    }

    @Test("stacks list --json reports each stack with the documented keys")
    func listJSON() async throws {
        try await withFixtureStacks(["webapp", "traefik", "Bad_Name"]) { fx in
            let config = try config(fx)
            let up = try await ControllerBinary.run(["stacks", "up", fx.name("webapp"), "--config", config])
            #expect(up.exitCode == 0, "\(up.stderr)")

            let result = try await ControllerBinary.run(["stacks", "list", "--json", "--config", config])
            #expect(result.exitCode == 0, "\(result.stderr)")
            let stacks = try #require(JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [[String: Any]])
            let byName = Dictionary(uniqueKeysWithValues: stacks.map { ($0["name"] as! String, $0) })
            let webapp = try #require(byName[fx.name("webapp")])
            for key in ["name", "status", "protected", "services_running", "services_total", "services"] {
                #expect(webapp[key] != nil, "missing \(key)")
            }
            #expect(webapp["status"] as? String == "running")
            #expect(webapp["services_running"] as? Int == 2)
            let services = try #require(webapp["services"] as? [[String: Any]])
            #expect(services.map { $0["name"] as? String } == ["web", "worker"])
            #expect(byName[fx.name("traefik")]?["protected"] as? Bool == true)
            #expect(byName[fx.name("traefik")]?["status"] as? String == "not_deployed")
            #expect(byName[fx.name("Bad_Name")]?["status"] as? String == "invalid")

            let table = try await ControllerBinary.run(["stacks", "list", "--config", config])
            #expect(table.stdout.hasPrefix("NAME"))
        }
    }

    @Test("stop, restart and down of a protected stack are refused without --force")
    func protectedNeedsForce() async throws {
        try await withFixtureStacks(["traefik", "webapp"]) { fx in
            let config = try config(fx, protected: [fx.name("webapp")])
            for fixture in ["traefik", "webapp"] {
                _ = try await ControllerBinary.run(["stacks", "up", fx.name(fixture), "--config", config])
                for verb in ["stop", "restart", "down"] {
                    let refused = try await ControllerBinary.run(["stacks", verb, fx.name(fixture), "--config", config])
                    #expect(refused.exitCode == 1)
                    #expect(refused.stderr.contains("protected") && refused.stderr.contains("--force"), "\(refused.stderr)")
                    #expect(refused.stderr.split(separator: "\n").count == 1)
                }
                let forced = try await ControllerBinary.run(["stacks", "stop", fx.name(fixture), "--force", "--config", config])
                #expect(forced.exitCode == 0, "\(forced.stderr)")
            }
        }
    }

    @Test("an invalid name is refused before docker runs")
    func invalidName() async throws {
        try await withFixtureStacks(["Bad_Name"]) { fx in
            let result = try await ControllerBinary.run(["stacks", "up", fx.name("Bad_Name"), "--config", try config(fx)])
            #expect(result.exitCode == 1)
            #expect(result.stderr.contains("invalid name"))
        }
    }
}
