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

    @Test("a valid stack's compose command is an argv with the project name, directory and file as separate arguments")
    func composeArgvShape() async throws {
        let directory = try TemporaryStacksDirectory()
        defer { directory.remove() }
        try directory.addStack("shop", fileName: "docker-compose.yml")
        let runner = RecordingRunner()
        try await StackOperations(configuration: directory.configuration(), runner: runner).perform(.up, on: "shop")

        let command = try #require(runner.commands.first)
        #expect(command.executable == "docker")
        #expect(command.arguments == [
            "compose", "--project-name", "shop", "--project-directory", directory.path + "/shop",
            "--file", directory.path + "/shop/docker-compose.yml", "up", "--detach",
        ])
        #expect(command.timeout == .seconds(120))
    }

    @Test("container ids that are not hex are dropped before docker inspect")
    func inspectDropsNonHexIDs() {
        let command = DockerCommands(settings: DockerSettings()).inspectContainers(["abc123", "--format={{.}}", "ABC", ""])
        #expect(command.arguments == ["inspect", "--type", "container", "abc123"])
    }
}
