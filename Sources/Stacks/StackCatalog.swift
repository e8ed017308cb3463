/// Lists stacks with their status: two docker calls for the containers, plus one compose
/// resolution for each stack whose files changed since the last listing.
public struct StackCatalog: Sendable {
    public var configuration: StacksConfiguration
    public var runner: any CommandRunner

    public init(configuration: StacksConfiguration, runner: any CommandRunner) {
        self.configuration = configuration
        self.runner = runner
    }

    /// Every stack in `stacks_dir`, plus the compose projects docker knows that it lacks.
    public func list() async throws(StackError) -> [StackInfo] {
        let entries = try await entries()
        let inventory = ContainerInventory(commands: DockerCommands(settings: configuration.docker), runner: runner)
        let containers = try await inventory.containers()
        return StackStatusResolver(protectedStacks: configuration.protectedStacks).resolve(entries: entries, containers: containers)
    }

    /// Every stack directory with compose's resolution of it; from the cache while its files are unchanged.
    /// A directory whose name is invalid is never handed to compose.
    public func entries() async throws(StackError) -> [StackStatusResolver.Entry] {
        let directories = try StackDirectory.discover(in: configuration.stacksDirectory)
        let resolvable = directories.filter { StackName.isValid($0.directoryName) }
        let projects = await configuration.resolver(runner: runner).resolve(resolvable)
        return directories.map { directory in
            let project = projects[directory.path]
                ?? .failure(ComposeFileError(path: directory.path, message: "not resolved: the directory's name is not a valid stack name"))
            return StackStatusResolver.Entry(directory: directory, project: project)
        }
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
