import DockerTesting
import Foundation
import Stacks
import Synchronization
import TestSupport
import Testing

/// `compose-fixtures/corpus`: our own compose files in the shapes real self-hosted apps use
/// (databases with healthchecks, profiles, `.env`, anchors, `include`, `extends`, overrides,
/// `name:`, `network_mode: service:`, replicas, list and map labels, label files, UTF-16…).
@Suite("The stack reader against a corpus of compose files (needs docker)", .needsDocker)
struct ComposeCorpusTests {
    static let corpus = FixtureStacks.fixturesDirectory + "/corpus"

    /// Counts the resolutions a listing runs, and runs them for real.
    final class CountingRunner: CommandRunner {
        let inner = SubprocessCommandRunner()
        let resolutions = Mutex(0)
        func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
            if command.arguments.contains("config") { resolutions.withLock { $0 += 1 } }
            return try await inner.run(command)
        }
    }

    @Test("for every stack the services, the protection and the project name equal compose's own; a second listing resolves nothing")
    func corpusMatchesCompose() async throws {
        _ = try await DockerEnvironment.require()
        let root = try TemporaryDirectory("felhom-corpus")
        let stacks = root.path + "/stacks"
        try FileManager.default.copyItem(atPath: Self.corpus, toPath: stacks)
        let names = try FileManager.default.contentsOfDirectory(atPath: stacks).sorted()
        #expect(names.count >= 40)

        let runner = CountingRunner()
        let configuration = StacksConfiguration(
            stacksDirectory: stacks, lockDirectory: root.path + "/state/locks", resolutionCache: root.path + "/state/compose-cache.json")
        let catalog = StackCatalog(configuration: configuration, runner: runner)
        let entries = try await catalog.entries()
        #expect(entries.count == names.count)
        #expect(runner.resolutions.withLock { $0 } == names.count)

        for entry in entries {
            let expected = try await ComposeOracle.of(entry.directory.path)
            switch entry.project {
            case .success(let project):
                #expect(ComposeOracle(project) == expected, "\(entry.directory.directoryName)")
            case .failure(let error):
                Issue.record("\(entry.directory.directoryName): not resolved: \(error)")
            }
        }
        let byDirectory = Dictionary(uniqueKeysWithValues: entries.map { ($0.directory.directoryName, try? $0.project.get()) })
        // Spot checks of what a hand-written reader got wrong before, each against the file's intent.
        #expect(byDirectory["10-top-level-name"]??.name == "immich")
        #expect(byDirectory["11-project-name-dotenv"]??.name == "paperless")
        #expect(byDirectory["04-profiles-from-dotenv"]??.services == ["web", "worker"])
        #expect(byDirectory["09-override-publishes-port"]??.services == ["housekeeping", "netbox", "worker"])
        #expect(byDirectory["13-replicas"]??.services == ["single", "web"])
        #expect(byDirectory["44-empty-profiles-list"]??.services == ["app"])
        for protected in ["14-labels-list-form", "16-label-file", "27-cloudflared-protected", "28-protect-default-interpolation",
                          "30-multi-document", "46-override-label-protects", "48-merge-list-of-anchors", "49-utf16-encoded"] {
            #expect(byDirectory[protected]??.isProtected == true, "\(protected)")
        }
        #expect(byDirectory["47-yaml-yes-is-not-true"]??.isProtected == false, "compose sets the label to \"yes\", which is not true")

        _ = try await catalog.list()
        #expect(runner.resolutions.withLock { $0 } == names.count, "an unchanged corpus lists from the cache")
    }
}
