import Stacks
import Testing

/// Proves that a name which fails validation never reaches a docker argv, whatever the directory holds.
@Suite("Invalid names never reach docker")
struct ArgvSafetyTests {
    static let hostileNames = [
        "Bad_Name", "shop;rm -rf /", "$(reboot)", "`id`", "a|b", "a&&b", "--help", "-p", "x y", "app'\"", "a\nb", "ÜBER",
    ]

    @Test("operations on an invalid or hostile name fail with invalid_name and run nothing", arguments: hostileNames)
    func operationsRefuseHostileNames(_ name: String) async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        if !name.contains("/") { try? directory.addStack(name) }
        let runner = RecordingRunner()
        let operations = StackOperations(configuration: directory.configuration(), runner: runner)

        for operation in StackOperation.allCases {
            await #expect(throws: StackError(code: .invalidName, stack: name)) {
                try await operations.perform(operation, on: name, force: true)
            }
        }
        #expect(runner.commands.isEmpty)
    }

    @Test("listing a stacks_dir full of hostile directories passes none of their names to docker")
    func listingNeverPassesHostileNames() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        for name in Self.hostileNames where !name.contains("/") {
            try directory.addStack(name)
        }
        try directory.addStack("good")
        let runner = RecordingRunner()
        let stacks = try await StackCatalog(configuration: directory.configuration(), runner: runner).list()

        let invalid = stacks.filter { $0.status == .invalid }.map(\.name)
        #expect(Set(invalid) == Set(Self.hostileNames.filter { !$0.contains("/") }))
        #expect(stacks.first { $0.name == "good" }?.status == .notDeployed)
        let argv = runner.commands.flatMap(\.arguments)
        for name in Self.hostileNames {
            #expect(!argv.contains { $0.contains(name) }, "\(name) reached an argv: \(argv)")
        }
    }

    @Test("a valid stack's compose command is an argv with the resolved project name and the directory as separate arguments, and no --file")
    func composeArgvShape() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("shop", fileName: "docker-compose.yml")
        try directory.addStack("photos", compose: "name: immich\nservices:\n  app: {image: x}\n")
        let runner = RecordingRunner()
        let operations = StackOperations(configuration: directory.configuration(), runner: runner)
        try await operations.perform(.up, on: "shop")
        try await operations.perform(.up, on: "immich")

        let composeCommands = runner.commands.filter { $0.arguments.first == "compose" }
        #expect(composeCommands.count == 2)
        let command = try #require(composeCommands.first)
        #expect(command.executable == "docker")
        // Without --file compose reads what a plain `docker compose` there would: override files, COMPOSE_FILE.
        #expect(command.arguments == ["compose", "--project-name", "shop", "--project-directory", directory.path + "/shop", "up", "--detach"])
        #expect(command.timeout == .seconds(120))
        #expect(composeCommands.last?.arguments == ["compose", "--project-name", "immich", "--project-directory", directory.path + "/photos", "up", "--detach"])
        #expect(runner.resolutions.allSatisfy { $0.executable == "prlimit" && $0.arguments.starts(with: ["--data=\(512 << 20)", "--", "docker", "compose"]) })
    }

    @Test("container ids that are not hex are dropped before docker inspect")
    func inspectDropsNonHexIDs() {
        let command = DockerCommands(settings: DockerSettings()).inspectContainers(["abc123", "--format={{.}}", "ABC", ""])
        #expect(command.arguments == ["inspect", "--type", "container", "abc123"])
    }
}
