import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Stack status on the real engine (needs docker)", .needsDocker)
struct StackStatusDockerTests {
    @Test("every status is reported, with each service's state and exit code, in two docker calls")
    func everyStatus() async throws {
        try await withFixtureStacks(["webapp", "flaky", "stubborn", "pgapp", "sidecar", "Bad_Name"]) { fx in
            let runner = CountingRunner()
            let operations = StackOperations(configuration: fx.configuration(), runner: runner)
            try await operations.perform(.up, on: fx.name("webapp"))
            try await operations.perform(.up, on: fx.name("flaky"))
            try await operations.perform(.up, on: fx.name("sidecar"))
            try await operations.perform(.up, on: fx.name("stubborn"))
            try await operations.perform(.stop, on: fx.name("stubborn"))
            try await deployUnmanaged(fx)
            let catalog = StackCatalog(configuration: fx.configuration(), runner: runner)
            // flaky's migrate service exits on its own; wait for it rather than sleep.
            #expect(await eventually { (try? await catalog.info(fx.name("flaky")).status) == .partial })
            #expect(await eventually { (try? await catalog.info(fx.name("webapp")).services.first?.health) == "healthy" })

            runner.reset()
            let stacks = try await catalog.list()
            #expect(runner.calls == 2)
            let status = Dictionary(uniqueKeysWithValues: stacks.map { ($0.name, $0.status) })
            #expect(status[fx.name("webapp")] == .running)
            #expect(status[fx.name("sidecar")] == .running)
            #expect(status[fx.name("flaky")] == .partial)
            #expect(status[fx.name("stubborn")] == .stopped)
            #expect(status[fx.name("pgapp")] == .notDeployed)
            #expect(status[fx.name("Bad_Name")] == .invalid)
            #expect(status[fx.name("outside")] == .unmanaged)

            let flaky = try #require(stacks.first { $0.name == fx.name("flaky") })
            #expect(flaky.services == [
                ServiceInfo(name: "app", state: "running", health: nil, exitCode: nil, containers: 1),
                ServiceInfo(name: "migrate", state: "exited", health: nil, exitCode: 3, containers: 1),
            ])
            #expect(flaky.servicesRunning == 1 && flaky.servicesTotal == 2)
            let webapp = try #require(stacks.first { $0.name == fx.name("webapp") })
            #expect(webapp.services.map(\.health) == ["healthy", nil], "only web has a healthcheck")
            let stubborn = try #require(stacks.first { $0.name == fx.name("stubborn") })
            #expect(stubborn.services.first?.exitCode == 137, "SIGKILL after the grace period")
            // The invalid directory's name was never passed to docker.
            #expect(!runner.intervals.flatMap(\.arguments).contains { $0.contains("Bad_Name") })
        }
    }

    @Test("runningAppStacks returns the running and partial app stacks, sorted, without protected or stopped ones")
    func runningAppStacks() async throws {
        try await withFixtureStacks(["webapp", "flaky", "traefik", "stubborn", "sidecar", "pgapp"]) { fx in
            let configuration = fx.configuration()
            let operations = StackOperations(configuration: configuration, runner: SubprocessCommandRunner())
            for fixture in ["webapp", "flaky", "traefik", "sidecar", "stubborn"] {
                try await operations.perform(.up, on: fx.name(fixture))
            }
            try await operations.perform(.stop, on: fx.name("stubborn"))
            let catalog = StackCatalog(configuration: configuration, runner: SubprocessCommandRunner())
            #expect(await eventually { (try? await catalog.info(fx.name("flaky")).status) == .partial })

            let names = try await catalog.runningAppStacks().map(\.rawValue)
            #expect(names == [fx.name("flaky"), fx.name("sidecar"), fx.name("webapp")])
        }
    }

    /// A compose project started outside `stacks_dir`, named so the test can find it.
    private func deployUnmanaged(_ fx: FixtureStacks) async throws {
        let outside = fx.root + "/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        try "services:\n  app:\n    image: felhom/busybox:test\n    command: [sleep, '3600']\n"
            .write(toFile: outside + "/compose.yaml", atomically: true, encoding: .utf8)
        let result = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "docker",
            arguments: ["compose", "--project-name", fx.name("outside"), "--project-directory", outside, "up", "--detach"],
            timeout: .seconds(60)))
        #expect(result.succeeded, "\(result.standardError)")
    }
}
