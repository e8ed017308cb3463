import Foundation
import Stacks
import Testing

@Suite("Listing stacks through the docker seam")
struct StackCatalogTests {
    /// Real `docker inspect` output for the `flaky` (running + exited) and `traefik` (protected) fixtures,
    /// deployed under the project names `flaky` and `traefik` from `stacksDirectory`.
    static func capturedInspect(stacksDirectory: String = "/tmp/fx") throws -> (ids: [String], json: String) {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/inspect-flaky-and-traefik", withExtension: "json"))
        let json = try String(contentsOf: url, encoding: .utf8)
            .replacingOccurrences(of: "\"fx-flaky\"", with: "\"flaky\"")
            .replacingOccurrences(of: "\"fx-traefik\"", with: "\"traefik\"")
            .replacingOccurrences(of: "\"/tmp/fx/", with: "\"\(stacksDirectory)/")
        let ids = try ContainerInventory.parseInspect(json).map(\.id)
        return (ids, json)
    }

    @Test("listing costs two docker calls however many stacks there are", arguments: [1, 10, 60])
    func constantCalls(stackCount: Int) async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        for index in 0..<stackCount { try directory.addStack("app\(index)") }
        try directory.addStack("flaky", compose: "services:\n  app: {image: x}\n  migrate: {image: x}\n")
        let (ids, json) = try Self.capturedInspect()
        let runner = RecordingRunner(containerIDs: ids, inspectJSON: json)

        let stacks = try await StackCatalog(configuration: directory.configuration(), runner: runner).list()
        #expect(runner.commands.count == 2)
        #expect(stacks.count == stackCount + 2)
    }

    @Test("with no compose containers at all, listing costs one call")
    func oneCallWhenEmpty() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("shop")
        let runner = RecordingRunner(containerIDs: [], inspectJSON: "[]")
        let stacks = try await StackCatalog(configuration: directory.configuration(), runner: runner).list()
        #expect(runner.commands.map { $0.arguments.first } == ["ps"])
        #expect(stacks.map(\.status) == [.notDeployed])
    }

    @Test("runningAppStacks keeps running and partial, unprotected, managed stacks, sorted")
    func runningAppStacks() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("flaky", compose: "services:\n  app: {image: x}\n  migrate: {image: x}\n")
        try directory.addStack("traefik", compose: "services:\n  proxy: {image: x}\n")
        try directory.addStack("idle")
        let (ids, json) = try Self.capturedInspect(stacksDirectory: directory.path)
        let catalog = StackCatalog(configuration: directory.configuration(), runner: RecordingRunner(containerIDs: ids, inspectJSON: json))

        let stacks = try await catalog.list()
        #expect(stacks.map(\.status) == [.partial, .notDeployed, .running])
        #expect(stacks.map(\.protected) == [false, false, true])
        #expect(try await catalog.runningAppStacks().map(\.rawValue) == ["flaky"])
    }

    @Test("a protected stack is refused stop, restart and down without force, and allowed with it")
    func protectedRefusal() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("traefik")
        try directory.addStack("proxy", compose: "services:\n  p:\n    image: x\n    labels: {eu.felhom.protected: \"true\"}\n")
        let runner = RecordingRunner()
        let operations = StackOperations(configuration: directory.configuration(protected: ["traefik"]), runner: runner)

        for name in ["traefik", "proxy"] {
            for operation in [StackOperation.stop, .restart, .down] {
                await #expect(throws: StackError(code: .protected, stack: name, operation: operation)) {
                    try await operations.perform(operation, on: name)
                }
            }
        }
        // Only the container inventory was read; compose never ran.
        #expect(runner.commands.allSatisfy { $0.arguments.first == "ps" })
        try await operations.perform(.start, on: "traefik")
        try await operations.perform(.stop, on: "traefik", force: true)
        #expect(runner.commands.filter { $0.arguments.first == "compose" }.map { $0.arguments.last } == ["start", "stop"])
    }

    @Test("a timeout names the stack, the operation and docker's stderr")
    func timeoutError() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("shop")
        let runner = TimingOutRunner()
        let operations = StackOperations(configuration: directory.configuration(), runner: runner)
        await #expect {
            try await operations.perform(.stop, on: "shop")
        } throws: { error in
            let error = error as! StackError
            return error.code == .timeout && error.stack == "shop" && error.operation == .stop
                && "\(error)".contains("Container shop-app-1  Stopping")
        }
    }

    @Test("an unknown stack fails without running compose")
    func unknownStack() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        let runner = RecordingRunner(containerIDs: [], inspectJSON: "[]")
        await #expect(throws: StackError(code: .unknownStack, stack: "ghost")) {
            try await StackOperations(configuration: directory.configuration(), runner: runner).perform(.start, on: "ghost")
        }
        #expect(!runner.commands.contains { $0.arguments.first == "compose" })
    }
}

private struct TimingOutRunner: CommandRunner {
    func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        if RecordingRunner.isResolution(command), let config = RecordingRunner.resolvedConfig(command) { return config }
        throw .timedOut(after: command.timeout, standardError: " Container shop-app-1  Stopping\n")
    }
}
