import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Stack operations on the real engine (needs docker)", .needsDocker)
struct StackOperationsDockerTests {
    func status(_ catalog: StackCatalog, _ name: String) async throws -> StackStatus {
        try await catalog.info(name).status
    }

    func containers(_ project: String) async throws -> [ComposeContainer] {
        let inventory = ContainerInventory(commands: DockerCommands(settings: DockerSettings()), runner: SubprocessCommandRunner())
        return try await inventory.containers().filter { $0.project == project }.sorted { $0.service < $1.service }
    }

    @Test("up, start, stop, restart and down work and are idempotent")
    func everyOperationIdempotent() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let name = fx.name("webapp")
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            let catalog = StackCatalog(configuration: fx.configuration(), runner: SubprocessCommandRunner())

            await #expect(throws: StackError.self, "start needs containers") {
                try await operations.perform(.start, on: name)
            }
            try await operations.perform(.up, on: name)
            try await operations.perform(.up, on: name)
            #expect(try await status(catalog, name) == .running)
            // The worker writes its heartbeat after it has set its TERM trap; a stop before that would leave no evidence.
            #expect(await eventually { FileManager.default.fileExists(atPath: fx.directory("webapp") + "/data/worker.heartbeat") })
            let firstStart = try await containers(name).map(\.startedAt)

            try await operations.perform(.start, on: name)
            #expect(try await containers(name).map(\.startedAt) == firstStart, "start on a running stack restarts nothing")

            try await operations.perform(.stop, on: name)
            #expect(try await status(catalog, name) == .stopped)
            #expect(FileManager.default.fileExists(atPath: fx.directory("webapp") + "/data/worker.shutdown"), "the worker saw SIGTERM")
            try await operations.perform(.stop, on: name)
            #expect(try await status(catalog, name) == .stopped)

            try await operations.perform(.start, on: name)
            #expect(try await status(catalog, name) == .running)
            let beforeRestart = try await containers(name).map(\.startedAt)
            try await operations.perform(.restart, on: name)
            #expect(try await status(catalog, name) == .running)
            #expect(try await containers(name).map(\.startedAt) != beforeRestart)

            try await operations.perform(.down, on: name)
            #expect(try await status(catalog, name) == .notDeployed)
            try await operations.perform(.down, on: name)
            #expect(try await status(catalog, name) == .notDeployed)
            #expect(FileManager.default.fileExists(atPath: fx.directory("webapp") + "/data/worker.heartbeat"), "down keeps the data")
        }
    }

    @Test("start on a stack that was never deployed fails as not_deployed")
    func startNotDeployed() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            await #expect {
                try await operations.perform(.start, on: fx.name("webapp"))
            } throws: { error in
                (error as? StackError)?.code == .notDeployed
            }
        }
    }

    @Test("the postgres fixture keeps its data in ./data and shuts down cleanly on stop")
    func postgresCleanShutdown() async throws {
        try await withFixtureStacks(["pgapp"]) { fx in
            let name = fx.name("pgapp")
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            try await operations.perform(.up, on: name)
            let logs = { () async throws -> String in
                let output = try await SubprocessCommandRunner().run(DockerCommand(
                    executable: "docker", arguments: ["logs", "\(name)-db-1"], timeout: .seconds(30)))
                return output.standardOutput + output.standardError
            }
            #expect(await eventually(timeout: .seconds(60)) { (try? await logs())?.contains("ready to accept connections") == true })
            #expect(FileManager.default.fileExists(atPath: fx.directory("pgapp") + "/data/pg/PG_VERSION"))

            try await operations.perform(.stop, on: name)
            #expect(try await logs().contains("database system is shut down"))
        }
    }

    @Test("a stack using network_mode service:… comes up and goes down in order")
    func sharedNetworkNamespace() async throws {
        try await withFixtureStacks(["sidecar"]) { fx in
            let name = fx.name("sidecar")
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            let catalog = StackCatalog(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            try await operations.perform(.up, on: name)
            #expect(try await status(catalog, name) == .running)
            try await operations.perform(.restart, on: name)
            #expect(try await status(catalog, name) == .running)
            try await operations.perform(.stop, on: name)
            #expect(try await status(catalog, name) == .stopped)
        }
    }

    @Test("a stop that outlives its timeout is killed with its whole process tree, and the error says so")
    func timeoutKillsProcessTree() async throws {
        try await withFixtureStacks(["stubborn"]) { fx in
            let name = fx.name("stubborn")
            // This copy ignores SIGTERM for 60 s; the stop may take 20 s, long enough for compose to print even on a loaded machine.
            let composeFile = fx.directory("stubborn") + "/compose.yaml"
            try String(contentsOfFile: composeFile, encoding: .utf8)
                .replacingOccurrences(of: "stop_grace_period: 2s", with: "stop_grace_period: 60s")
                .write(toFile: composeFile, atomically: true, encoding: .utf8)
            try await StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner()).perform(.up, on: name)

            let docker = DockerSettings(operationTimeouts: [.stop: .seconds(20)])
            let operations = StackOperations(configuration: fx.configuration(docker: docker), runner: SubprocessCommandRunner())
            let started = ContinuousClock.now
            await #expect {
                try await operations.perform(.stop, on: name)
            } throws: { error in
                guard let error = error as? StackError else { return false }
                let text = "\(error)"
                return error.code == .timeout && error.stack == name && error.operation == .stop
                    && text.contains(name) && text.contains("stop") && text.contains("Stopping")
            }
            #expect(ContinuousClock.now - started < .seconds(50), "killed at the timeout, not after the 60 s grace period")
            // Neither `docker` nor the `docker-compose` plugin it spawned survives.
            #expect(await eventually(timeout: .seconds(30)) { processesMentioning(name).isEmpty }, "\(processesMentioning(name))")
        }
    }

    @Test("a malformed compose file fails with an error naming the file and carrying compose's message")
    func malformedFile() async throws {
        try await withFixtureStacks(["broken"]) { fx in
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            await #expect {
                try await operations.perform(.up, on: fx.name("broken"))
            } throws: { error in
                guard let error = error as? StackError else { return false }
                let file = fx.directory("broken") + "/compose.yaml"
                return error.code == .malformedComposeFile && error.composeFile == file
                    && "\(error)".contains(file) && error.stderr.contains("did not find expected")
            }
        }
    }

    @Test("a protected stack is not taken down without force; its container keeps running untouched")
    func protectedRefusal() async throws {
        try await withFixtureStacks(["traefik", "webapp"]) { fx in
            let byLabel = fx.name("traefik")
            let byName = fx.name("webapp")
            let operations = StackOperations(configuration: fx.configuration(protected: [byName]), runner: SubprocessCommandRunner())
            try await operations.perform(.up, on: byLabel)
            try await operations.perform(.up, on: byName)
            let before = try await containers(byLabel).map(\.startedAt) + containers(byName).map(\.startedAt)

            for name in [byLabel, byName] {
                for operation in [StackOperation.stop, .restart, .down] {
                    await #expect(throws: StackError(code: .protected, stack: name, operation: operation)) {
                        try await operations.perform(operation, on: name)
                    }
                }
            }
            let after = try await containers(byLabel).map(\.startedAt) + containers(byName).map(\.startedAt)
            #expect(after == before)
            #expect(try await containers(byLabel).allSatisfy(\.isRunning))

            try await operations.perform(.stop, on: byLabel, force: true)
            #expect(try await containers(byLabel).allSatisfy { !$0.isRunning })
        }
    }

    @Test("two operations on one stack never overlap, and a waiter past the bound fails as busy")
    func concurrentOperationsSerialized() async throws {
        try await withFixtureStacks(["stubborn"]) { fx in
            let name = fx.name("stubborn")
            // SIGTERM is ignored for 15 s, so each stop holds the lock for that long: a window no
            // loaded machine can miss, where 2 s could pass before the test even saw the stop begin.
            let composeFile = fx.directory("stubborn") + "/compose.yaml"
            try String(contentsOfFile: composeFile, encoding: .utf8)
                .replacingOccurrences(of: "stop_grace_period: 2s", with: "stop_grace_period: 15s")
                .write(toFile: composeFile, atomically: true, encoding: .utf8)
            let runner = CountingRunner()
            try await StackOperations(configuration: fx.configuration(), runner: runner).perform(.up, on: name)
            runner.reset()

            // start arrives while the stop runs and must wait for it.
            let operations = StackOperations(configuration: fx.configuration(), runner: runner)
            async let stop: Void = operations.perform(.stop, on: name)
            #expect(await eventually { !processesMentioning(name).isEmpty }, "the stop is running")
            async let start: Void = operations.perform(.start, on: name)
            try await stop
            try await start
            let compose = runner.intervals.filter { $0.arguments.first == "compose" }.sorted { $0.start < $1.start }
            #expect(compose.map { $0.arguments.last } == ["stop", "start"])
            #expect(compose.count == 2 && compose[0].end <= compose[1].start, "the start ran only after the stop finished")

            // With a short wait bound the second operation gives up as busy.
            let impatient = StackOperations(configuration: fx.configuration(lockWait: .milliseconds(300)), runner: runner)
            async let slowStop: Void = operations.perform(.stop, on: name)
            #expect(await eventually { !processesMentioning(name).isEmpty }, "the stop is running")
            await #expect {
                try await impatient.perform(.restart, on: name)
            } throws: { error in
                (error as? StackError)?.code == .busy && "\(error)".contains(name)
            }
            try await slowStop
        }
    }
}

/// Command lines of live processes that mention `text`, from /proc.
func processesMentioning(_ text: String) -> [String] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        let commandLine = String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        return commandLine.contains(text) && commandLine.contains("docker") ? commandLine : nil
    }
}
