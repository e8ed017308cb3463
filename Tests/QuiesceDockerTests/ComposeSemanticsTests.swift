import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// Stacks read the way compose reads them: every way of setting the protection label protects
/// everywhere; a hand-deployed `name:` stack is quiesced; a stack compose cannot resolve is
/// protected and blocks nothing else.
@Suite("Compose semantics on the real engine (needs docker)", .needsDocker)
struct ComposeSemanticsTests {
    static let body = """
        image: felhom/busybox:test
            command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]
        """

    /// One way of setting (or of not quite setting) `eu.felhom.protected`: its files, and whether compose protects.
    struct Variant: Sendable {
        var name: String
        var files: [String: String]
        var protected: Bool
    }

    static func service(_ extra: String = "") -> String {
        "services:\n  svc:\n    \(body)\n" + (extra.isEmpty ? "" : "    \(extra)\n")
    }

    static let variants: [Variant] = [
        Variant(name: "plain", files: ["compose.yaml": service(#"labels: {eu.felhom.protected: "true"}"#)], protected: true),
        Variant(name: "anchor", files: ["compose.yaml": """
            x-protect: &protect
              labels: {eu.felhom.protected: "true"}
            services:
              svc:
                <<: *protect
                \(body)

            """], protected: true),
        Variant(name: "list", files: ["compose.yaml": service(#"labels: ["eu.felhom.protected=true", "a=b"]"#)], protected: true),
        Variant(name: "extends", files: [
            "base.yaml": service(#"labels: {eu.felhom.protected: "true"}"#),
            "compose.yaml": "services:\n  svc:\n    extends: {file: base.yaml, service: svc}\n",
        ], protected: true),
        Variant(name: "include", files: [
            "infra.yaml": service(#"labels: {eu.felhom.protected: "true"}"#),
            "compose.yaml": "include: [infra.yaml]\n",
        ], protected: true),
        Variant(name: "default", files: ["compose.yaml": service(#"labels: {eu.felhom.protected: "${PROTECT:-true}"}"#)], protected: true),
        Variant(name: "dotenv", files: ["compose.yaml": service(#"labels: {eu.felhom.protected: "${PROTECT}"}"#), ".env": "PROTECT=true\n"], protected: true),
        Variant(name: "labelfile", files: ["compose.yaml": service("label_file: ./protect.labels"), "protect.labels": "eu.felhom.protected=true\n"], protected: true),
        Variant(name: "override", files: [
            "compose.yaml": service(),
            "compose.override.yaml": "services:\n  svc:\n    labels: {eu.felhom.protected: \"true\"}\n",
        ], protected: true),
        Variant(name: "composefile", files: [
            "compose.yaml": service(),
            "protect.yaml": "services:\n  svc:\n    labels: {eu.felhom.protected: \"true\"}\n",
            ".env": "COMPOSE_FILE=compose.yaml:protect.yaml\n",
        ], protected: true),
        Variant(name: "multidoc", files: ["compose.yaml": service() + "---\nservices:\n  svc:\n    labels: {eu.felhom.protected: \"true\"}\n"], protected: true),
        Variant(name: "utf16", files: ["compose.yaml": service(#"labels: {eu.felhom.protected: "true"}"#)], protected: true),
        // Compose's rule is the string `true`: these look protected to a careless reader and are not.
        Variant(name: "yes", files: ["compose.yaml": service("labels: {eu.felhom.protected: yes}")], protected: false),
        Variant(name: "envfalse", files: ["compose.yaml": service(#"labels: {eu.felhom.protected: "${PROTECT:-true}"}"#), ".env": "PROTECT=false\n"], protected: false),
    ]

    static func write(_ variant: Variant, into directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (file, text) in variant.files {
            let data = variant.name == "utf16" ? text.data(using: .utf16)! : Data(text.utf8)
            try data.write(to: URL(fileURLWithPath: directory + "/" + file))
        }
    }

    /// `protected` of each stack in a listing, by name.
    static func protection(_ json: String) -> [String: Bool] {
        let stacks = (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [[String: Any]] ?? []
        return Dictionary(uniqueKeysWithValues: stacks.compactMap { stack in
            (stack["name"] as? String).map { ($0, stack["protected"] as? Bool ?? false) }
        })
    }

    static let unusedPin = "sha256//" + Data(count: 32).base64EncodedString()

    @Test("every way of setting the label: stacks list, the API, the quiesce selection and stop/down all agree with compose, before and after a deploy")
    func protectionMatrix() async throws {
        try await withFixtureStacks([]) { fx in
            for variant in Self.variants { try Self.write(variant, into: fx.directory("pm-" + variant.name)) }
            let controller = try ControllerHarness(
                fixtures: fx, agentURL: "https://127.0.0.1:9", pin: Self.unusedPin, guestToken: "unused", quiesceEnabled: false)
            let run = try await controller.start()
            let catalog = StackCatalog(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            var table: [String] = []

            for deployed in [false, true] {
                if deployed {
                    for variant in Self.variants {
                        let up = try await controller.cli(["stacks", "up", fx.name("pm-" + variant.name)])
                        try #require(up.exitCode == 0, "up \(variant.name): \(up.standardError)")
                    }
                }
                let viaCLI = Self.protection(try await controller.cli(["stacks", "list", "--json"]).standardOutput)
                let viaAPI = Self.protection(try await controller.api("GET", "/api/stacks").body)
                let selected = Set(try await catalog.runningAppStacks().map(\.rawValue))
                for variant in Self.variants {
                    let name = fx.name("pm-" + variant.name)
                    let compose = !(try await ComposeOracle.of(fx.directory("pm-" + variant.name)).protectedServices.isEmpty)
                    let before = try await Docker.startedAt(project: name)
                    let stop = try await controller.cli(["stacks", "stop", name])
                    let down = variant.protected ? try await controller.cli(["stacks", "down", name]) : stop
                    let refused = stop.exitCode != 0 && stop.standardError.contains("protected")
                        && down.exitCode != 0 && down.standardError.contains("protected")
                    let untouched = try await Docker.startedAt(project: name) == before
                    #expect(compose == variant.protected, "\(variant.name): compose says \(compose)")
                    #expect(viaCLI[name] == variant.protected && viaAPI[name] == variant.protected, "\(variant.name): list \(String(describing: viaCLI[name])), API \(String(describing: viaAPI[name]))")
                    #expect(selected.contains(name) == (deployed && !variant.protected), "\(variant.name): quiesce selection \(selected)")
                    if variant.protected {
                        #expect(refused && untouched, "\(variant.name): stop \(stop.standardError) down \(down.standardError)")
                    } else {
                        #expect(stop.exitCode == 0 || !deployed, "\(variant.name): \(stop.standardError)")
                        if deployed { _ = try await controller.cli(["stacks", "start", name]) }
                    }
                    table.append("\(variant.name.padding(toLength: 12, withPad: " ", startingAt: 0)) | \(deployed ? "deployed    " : "not deployed") | compose \(compose) | list \(viaCLI[name] ?? false) | API \(viaAPI[name] ?? false) | selected \(selected.contains(name)) | stop/down \(variant.protected ? (refused && untouched ? "refused" : "NOT REFUSED") : "allowed")")
                }
            }
            print("\nlabel set by  | state        | protection everywhere\n" + table.joined(separator: "\n"))
            run.stop()
        }
    }

    @Test("a hand-deployed `name:` stack is quiesced under its name; a running stack compose cannot resolve, and an alias bomb, are listed with compose's message, protected, and block nothing")
    func nameAndUnresolvable() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            // Deployed by hand, as an operator following the app's README would: `docker compose up -d` in its directory.
            let immich = fx.name("immich")
            try Self.write(Variant(name: "named", files: ["compose.yaml": "name: \(immich)\n" + Self.service()], protected: false), into: fx.directory("photos"))
            let handUp = try await Docker.run(["compose", "up", "-d"], in: fx.directory("photos"))
            try #require(handUp.exitCode == 0, "\(handUp.standardError)")
            // Running, then its file gains a variable nobody set: compose can no longer say what it is.
            try Self.write(Variant(name: "vault", files: ["compose.yaml": Self.service()], protected: false), into: fx.directory("vault"))
            try #require(try await Docker.run(["compose", "up", "-d"], in: fx.directory("vault")).exitCode == 0)
            try Self.write(Variant(name: "vault", files: ["compose.yaml": Self.service("environment: {KEY: \"${VAULT_KEY:?set VAULT_KEY in .env}\"}")], protected: false),
                           into: fx.directory("vault"))
            var bomb = [#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
            for level in 1...9 { bomb.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ",") + "]") }
            try Self.write(Variant(name: "bomb", files: ["compose.yaml": bomb.joined(separator: "\n") + "\n" + Self.service("environment: {BOMB: *a9}")], protected: false),
                           into: fx.directory("bomb"))
            try await Docker.up(fx, "webapp")
            let vaultBefore = try await Docker.startedAt(project: fx.name("vault"))
            let immichBefore = try await Docker.startedAt(project: immich)

            let (agent, token) = try await Scenario.appsAndAgent(fx, up: [])
            let controller = try ControllerHarness(
                fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token,
                extraYAML: "docker: { resolve_timeout_seconds: 10 }")

            let clock = ContinuousClock()
            let started = clock.now
            let listed = try await controller.cli(["stacks", "list", "--json"])
            let listedAfter = started.duration(to: clock.now)
            let stacks = (try JSONSerialization.jsonObject(with: Data(listed.standardOutput.utf8)) as? [[String: Any]]) ?? []
            let byName = Dictionary(uniqueKeysWithValues: stacks.compactMap { stack in (stack["name"] as? String).map { ($0, stack) } })
            #expect(byName[immich]?["status"] as? String == "running" && byName[immich]?["protected"] as? Bool == false, "\(byName.keys.sorted())")
            #expect(byName[fx.name("photos")] == nil, "listed under its project name, not its directory")
            let vault = byName[fx.name("vault")]
            #expect(vault?["protected"] as? Bool == true && (vault?["problem"] as? String)?.contains("VAULT_KEY") == true, "\(String(describing: vault))")
            let bombed = byName[fx.name("bomb")]
            #expect(bombed?["protected"] as? Bool == true && (bombed?["problem"] as? String)?.contains("within") == true, "\(String(describing: bombed))")
            // The resolutions run four at a time; one timeout, a margin for a loaded machine, and the engine's own calls.
            #expect(listedAfter < .seconds(120), "listing took \(listedAfter)")

            let (_, cycle) = try await controller.firstCycle()
            #expect(cycle["outcome"] as? String == "succeeded", "\(cycle)")
            #expect(Set(cycle["stacks"] as? [String] ?? []) == [immich, fx.name("webapp")], "\(cycle)")
            #expect(try await Docker.startedAt(project: fx.name("vault")) == vaultBefore, "the unresolvable stack was stopped")
            let immichAfter = try await Docker.startedAt(project: immich)
            #expect(immichAfter.keys == immichBefore.keys && immichAfter != immichBefore, "the named stack was not restarted by the cycle")
            #expect(try await controller.statuses()[immich] == "running")
            print("[compose] listed with an unresolvable file and an alias bomb in \(listedAfter); cycle stacks \(cycle["stacks"] ?? "")")
            _ = try await Docker.run(["compose", "down", "--timeout", "0"], in: fx.directory("photos"))
        }
    }
}
