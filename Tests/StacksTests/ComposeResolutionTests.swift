import Foundation
import Stacks
import Synchronization
import Testing

@Suite("Resolving stacks with compose, and keeping the answers")
struct ComposeResolutionTests {
    @Test("compose's resolved config: the project name, services without replicas: 0, protection only for the string true")
    func parse() throws {
        let project = try ComposeProject.parse(configJSON: """
            {"name": "immich", "services": {
              "web": {"image": "x", "labels": {"eu.felhom.protected": "true"}},
              "spare": {"image": "x", "deploy": {"replicas": 0, "resources": {}}},
              "worker": {"image": "x", "deploy": {"replicas": 2}, "labels": {"eu.felhom.protected": "yes"}},
              "plain": {"image": "x"}}}
            """, path: "/stacks/photos")
        #expect(project == ComposeProject(name: "immich", services: ["plain", "web", "worker"], protectedServices: ["web"]))
        #expect(throws: ComposeFileError.self) { try ComposeProject.parse(configJSON: "not json", path: "/stacks/x") }
    }

    @Test("the inputs name every file in the directory and what include, extends and label_file point at, even outside it")
    func inputs() throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        let shared = directory.path + ".state/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try "services:\n  base: {image: x}\n".write(toFile: shared + "/base.yaml", atomically: true, encoding: .utf8)
        try "eu.felhom.protected=true\n".write(toFile: shared + "/labels", atomically: true, encoding: .utf8)
        try "services:\n  db: {image: x}\n".write(toFile: shared + "/db.yaml", atomically: true, encoding: .utf8)
        try directory.addStack("shop", compose: """
            include: [\(shared)/db.yaml]
            services:
              web:
                extends: {file: \(shared)/base.yaml, service: base}
                label_file: \(shared)/labels
            """)
        try "X=1\n".write(toFile: directory.path + "/shop/.env", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: directory.path + "/shop/data", withIntermediateDirectories: true)
        try "app state".write(toFile: directory.path + "/shop/data/state", atomically: true, encoding: .utf8)

        let environment = ["COMPOSE_PROFILES": "debug", "HOME": "/root"]
        let inputs = ComposeInputs.of(directory: directory.path + "/shop", environment: environment)
        let existing = Set(inputs.files.filter { $0.size >= 0 }.map(\.path))
        #expect(existing == [
            directory.path + "/shop/compose.yaml", directory.path + "/shop/.env",
            shared + "/db.yaml", shared + "/base.yaml", shared + "/labels",
        ], "the app's own data is not an input")
        #expect(inputs.complete)
        #expect(inputs.files.contains { $0.path == directory.path + "/shop/compose.override.yaml" && $0.size == -1 },
                "a missing override file is stamped, so one that appears is a change")
        #expect(ComposeInputs.of(directory: directory.path + "/shop", environment: ["COMPOSE_PROFILES": "other"]).environmentDigest != inputs.environmentDigest)

        try "more app state".write(toFile: directory.path + "/shop/data/state", atomically: true, encoding: .utf8)
        try "a log the app writes beside its compose file".write(toFile: directory.path + "/shop/app.log", atomically: true, encoding: .utf8)
        #expect(ComposeInputs.of(directory: directory.path + "/shop", environment: environment) == inputs)
        try "eu.felhom.protected=false\n".write(toFile: shared + "/labels", atomically: true, encoding: .utf8)
        #expect(ComposeInputs.of(directory: directory.path + "/shop", environment: environment).files != inputs.files)
    }

    @Test("a reference built by interpolation, or a compose file that cannot be followed, makes the inputs incomplete: never cached")
    func incomplete() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("shop", compose: "include:\n  - ${SHARED}/db.yaml\nservices:\n  app: {image: x}\n")
        #expect(!ComposeInputs.of(directory: directory.path + "/shop").complete)
        try directory.addStack("broken", compose: "services: [unclosed\n")
        #expect(!ComposeInputs.of(directory: directory.path + "/broken").complete)

        let runner = RecordingRunner(containerIDs: [], inspectJSON: "[]")
        let catalog = StackCatalog(configuration: directory.configuration(), runner: runner)
        _ = try await catalog.list()
        _ = try await catalog.list()
        #expect(runner.resolutions.count == 4, "both stacks are resolved on every listing")
    }

    @Test("a file built to explode when expanded is only read for the keys that name files")
    func aliasBomb() throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        var lines = [#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        for level in 1...9 { lines.append("a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 9).joined(separator: ",") + "]") }
        lines.append("services:\n  web:\n    image: x\n    environment: {BOMB: *a9}\n")
        try directory.addStack("bomb", compose: lines.joined(separator: "\n"))
        let clock = ContinuousClock()
        let started = clock.now
        let inputs = ComposeInputs.of(directory: directory.path + "/bomb")
        #expect(inputs.complete && inputs.files.filter { $0.size >= 0 }.count == 1)
        // Not a speed target: an expansion would take minutes and gigabytes, so any finish proves none happened.
        #expect(started.duration(to: clock.now) < .seconds(60))
    }

    @Test("an unchanged stack is resolved once; a changed file, or a new override file, resolves it again")
    func cache() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("shop")
        try directory.addStack("blog")
        let runner = RecordingRunner(containerIDs: [], inspectJSON: "[]")
        let catalog = StackCatalog(configuration: directory.configuration(), runner: runner)

        _ = try await catalog.list()
        #expect(runner.resolutions.count == 2)
        _ = try await catalog.list()
        #expect(runner.resolutions.count == 2, "a warm listing runs no compose config")
        #expect(try posixMode(directory.cachePath) == 0o600)

        try "services:\n  web: {ports: [\"8000:80\"]}\n".write(toFile: directory.path + "/shop/compose.override.yaml", atomically: true, encoding: .utf8)
        _ = try await catalog.list()
        #expect(runner.resolutions.count == 3 && runner.resolutions.last?.workingDirectory == directory.path + "/shop")
    }

    @Test("compose's refusal is kept until the files change; a timeout is asked again later; a launch failure is not kept")
    func failures() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        for name in ["refused", "slow", "unlaunched"] { try directory.addStack(name) }
        let calls = Mutex<[String: Int]>([:])
        let runner = ScriptedResolutions { command in
            let name = (command.workingDirectory! as NSString).lastPathComponent
            calls.withLock { $0[name, default: 0] += 1 }
            switch name {
            case "refused": return .success(CommandOutput(exitCode: 15, standardOutput: "", standardError: "required variable DB_PASSWORD is missing a value"))
            case "slow": return .failure(.timedOut(after: .seconds(30), standardError: ""))
            default: return .failure(.launchFailed("prlimit: not found"))
            }
        }
        let resolver = directory.configuration().resolver(runner: runner)
        let directories = try StackDirectory.discover(in: directory.path)
        let first = await resolver.resolve(directories)
        #expect(first.values.allSatisfy { if case .failure = $0 { true } else { false } })
        #expect("\(first[directory.path + "/refused"]!)".contains("DB_PASSWORD"))
        #expect("\(first[directory.path + "/slow"]!)".contains("within 30"))
        _ = await resolver.resolve(directories)
        #expect(calls.withLock { $0 } == ["refused": 1, "slow": 1, "unlaunched": 2])
    }

    func posixMode(_ path: String) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int ?? 0) & 0o777
    }
}

/// Answers only `compose config`, from a script.
private struct ScriptedResolutions: CommandRunner {
    let script: @Sendable (DockerCommand) -> Result<CommandOutput, CommandRunError>

    func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        try script(command).get()
    }
}
