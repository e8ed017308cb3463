import ConfigFile
import HTTPTypes
import Hummingbird
import Testing

@testable import HTTPServing

@Suite("HTTP serving rules")
struct HTTPServingTests {
    @Test("Allow lists a path's methods, HEAD with GET; captures match any segment; unknown paths are left to the router")
    func allowedMethods() {
        let router = Router()
        router.get("/backup/due") { _, _ in "" }
        router.post("/backup") { _, _ in "" }
        router.post("/api/stacks/:name/restart") { _, _ in "" }
        let rules = MethodNotAllowed(routes: router.routes) { status, _, _ in Response(status: status) }
        #expect(rules.allowedMethods(for: "/backup/due") == [.get, .head])
        #expect(rules.allowedMethods(for: "/backup") == [.post])
        #expect(rules.allowedMethods(for: "/api/stacks/webapp/restart") == [.post])
        #expect(rules.allowedMethods(for: "/api/stacks/webapp") == nil)
        #expect(rules.allowedMethods(for: "/nothing") == nil)
    }

    @Test("JSON is application/json in any case, with parameters; nothing else is")
    func jsonMediaType() {
        #expect(RequireJSONBody<BasicRequestContext>.isJSON("application/json"))
        #expect(RequireJSONBody<BasicRequestContext>.isJSON("Application/JSON; charset=utf-8"))
        #expect(!RequireJSONBody<BasicRequestContext>.isJSON("text/plain"))
        #expect(!RequireJSONBody<BasicRequestContext>.isJSON("application/json-patch+json"))
        #expect(!RequireJSONBody<BasicRequestContext>.isJSON(nil))
    }

    @Test("a peer at its cap is refused until one of its connections closes; other peers are not affected")
    func peerCap() {
        let peers = PeerConnections(cap: 2)
        #expect(peers.open("10.0.0.2") && peers.open("10.0.0.2"))
        #expect(!peers.open("10.0.0.2"))
        #expect(peers.open("10.0.0.3"))
        peers.close("10.0.0.2")
        #expect(peers.open("10.0.0.2"))
        #expect(peers.count("10.0.0.2") == 2)
        let unlimited = PeerConnections(cap: nil)
        for _ in 0..<1000 { #expect(unlimited.open("10.0.0.4")) }
    }

    @Test("the connection cap fits under the descriptor limit, with a warning when it had to shrink or the limit is low")
    func descriptorBudget() {
        let roomy = DescriptorBudget(limit: 65536, configuredCap: 512)
        #expect(roomy.connectionCap == 512 && roomy.warning == nil)
        let tight = DescriptorBudget(limit: 256, configuredCap: 512)
        #expect(tight.connectionCap == 256 - DescriptorBudget.reserve)
        #expect(tight.warning?.contains("LimitNOFILE") == true)
        let low = DescriptorBudget(limit: 800, configuredCap: 100)
        #expect(low.connectionCap == 100 && low.warning != nil)
        #expect(DescriptorBudget(limit: 10, configuredCap: 512).connectionCap == 1)
    }

    @Test("connections: reads every key, 0 turns the per-peer cap off, and a bad value names its key")
    func parsing() throws {
        let reader = ConfigReader(path: "test.yaml")
        let node = try ConfigFile.root(of: """
            connections: { tls_handshake_timeout_seconds: 3, idle_timeout_seconds: 4.5, request_timeout_seconds: 6, max: 100, max_per_peer: 0 }
            """, path: "test.yaml")
        let section = try #require(try reader.mapping(node, key: nil, allowed: ["connections"])["connections"])
        let limits = try ConnectionLimits.parse(section, key: "connections", reader: reader)
        #expect(limits.tlsHandshakeTimeout == .seconds(3) && limits.idleTimeout == .milliseconds(4500))
        #expect(limits.requestTimeout == .seconds(6) && limits.maxConnections == 100 && limits.maxConnectionsPerPeer == nil)
        let bad = try ConfigFile.root(of: "connections: { idle_timeout_seconds: -1 }", path: "test.yaml")
        let badSection = try #require(try reader.mapping(bad, key: nil, allowed: ["connections"])["connections"])
        #expect { try ConnectionLimits.parse(badSection, key: "connections", reader: reader) } throws: { error in
            "\(error)".contains("connections.idle_timeout_seconds")
        }
    }
}
