import Foundation
import Stacks

/// Copies of `compose-fixtures/` in a throwaway `stacks_dir`, under names unique to one test.
///
/// Tests run in parallel against one engine, so every copy is named
/// `<prefix>-<fixture>` with a random prefix. ``withFixtureStacks(_:_:)``
/// takes every project down afterwards, whether the test passed or not.
public struct FixtureStacks: Sendable {
    /// `compose-fixtures/` in this repository.
    public static let fixturesDirectory: String = {
        let here = URL(fileURLWithPath: #filePath)
        return here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("compose-fixtures").path
    }()

    public let root: String
    public let prefix: String
    /// The fixtures copied, by their original names.
    public let fixtures: [String]

    public var stacksDirectory: String { root + "/stacks" }
    public var stateDirectory: String { root + "/state" }

    /// The stack name of `fixture` in this copy, e.g. `t1a2b3-webapp`.
    public func name(_ fixture: String) -> String { "\(prefix)-\(fixture)" }

    /// The stack directory of `fixture`.
    public func directory(_ fixture: String) -> String { stacksDirectory + "/" + name(fixture) }

    /// A Stacks configuration over this copy.
    public func configuration(
        protected: Set<String> = [], docker: DockerSettings = DockerSettings(), lockWait: Duration = .seconds(30)
    ) -> StacksConfiguration {
        StacksConfiguration(
            stacksDirectory: stacksDirectory, protectedStacks: protected, docker: docker,
            lockDirectory: stateDirectory + "/locks", lockWait: lockWait, resolutionCache: stateDirectory + "/compose-cache.json"
        )
    }

    /// Copies `fixtures` into a new temporary stacks directory.
    public static func make(_ fixtures: [String]) throws -> FixtureStacks {
        let prefix = "t" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("felhom-\(prefix)").path
        let stacks = FixtureStacks(root: root, prefix: prefix, fixtures: fixtures)
        try FileManager.default.createDirectory(atPath: stacks.stacksDirectory, withIntermediateDirectories: true)
        for fixture in fixtures {
            try FileManager.default.copyItem(atPath: fixturesDirectory + "/" + fixture, toPath: stacks.directory(fixture))
        }
        return stacks
    }

    /// Copies `fixture` once more under the name `<prefix>-<suffix>`, e.g. for a benchmark's fifty stacks.
    public func addCopy(of fixture: String, as suffix: String) throws {
        try FileManager.default.copyItem(atPath: Self.fixturesDirectory + "/" + fixture, toPath: directory(suffix))
    }

    /// Takes down every compose project whose name starts with this copy's prefix, then deletes the directory.
    public func tearDown() async {
        let runner = SubprocessCommandRunner()
        let inventory = ContainerInventory(commands: DockerCommands(settings: DockerSettings()), runner: runner)
        let projects = Set(((try? await inventory.containers()) ?? []).map(\.project).filter { $0.hasPrefix(prefix + "-") })
        await withTaskGroup(of: Void.self) { group in
            for project in projects {
                group.addTask {
                    _ = try? await runner.run(DockerCommand(
                        executable: "docker",
                        arguments: ["compose", "--project-name", project, "down", "--timeout", "0", "--remove-orphans"],
                        timeout: .seconds(60)))
                }
            }
        }
        try? FileManager.default.removeItem(atPath: root)
    }
}

/// Runs `body` over fresh copies of `fixtures` and always tears them down.
public func withFixtureStacks<T>(
    _ fixtures: [String], _ body: (FixtureStacks) async throws -> T
) async throws -> T {
    try await DockerEnvironment.require()
    let stacks = try FixtureStacks.make(fixtures)
    do {
        let result = try await body(stacks)
        await stacks.tearDown()
        return result
    } catch {
        await stacks.tearDown()
        throw error
    }
}
