/// Lists stacks with their status, at a constant cost of at most two docker calls.
public struct StackCatalog: Sendable {
    public var configuration: StacksConfiguration
    public var runner: any CommandRunner

    public init(configuration: StacksConfiguration, runner: any CommandRunner) {
        self.configuration = configuration
        self.runner = runner
    }

    /// Every stack in `stacks_dir`, plus the compose projects docker knows that it lacks.
    public func list() async throws(StackError) -> [StackInfo] {
        let directories = try StackDirectory.discover(in: configuration.stacksDirectory)
        let entries = directories.map { directory in
            StackStatusResolver.Entry(
                directory: directory,
                summary: Result { () throws(ComposeFileError) in try ComposeFileSummary.load(path: directory.composeFile) }
            )
        }
        let inventory = ContainerInventory(commands: DockerCommands(settings: configuration.docker), runner: runner)
        let containers = try await inventory.containers()
        return StackStatusResolver(protectedStacks: configuration.protectedStacks).resolve(entries: entries, containers: containers)
    }

    /// One stack by name.
    /// - Throws: ``StackError`` `.unknownStack` when neither `stacks_dir` nor docker knows it.
    public func info(_ name: String) async throws(StackError) -> StackInfo {
        guard let stack = try await list().first(where: { $0.name == name }) else {
            throw StackError(code: .unknownStack, stack: name)
        }
        return stack
    }

    /// The stacks the quiesce loop stops: deployed, not protected, and `running` or `partial`, sorted by name.
    public func runningAppStacks() async throws(StackError) -> [StackName] {
        try await list()
            .filter { $0.status.isUp && !$0.protected }
            .compactMap { StackName($0.name) }
            .sorted()
    }
}
