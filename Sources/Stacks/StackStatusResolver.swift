/// Combines what `stacks_dir` holds with what docker runs into one ``StackInfo`` per stack.
///
/// Pure: no I/O, so every status rule is unit-tested without docker.
public struct StackStatusResolver: Sendable {
    /// Names from the config's `protected` list.
    public var protectedStacks: Set<String>

    public init(protectedStacks: Set<String>) {
        self.protectedStacks = protectedStacks
    }

    /// A stack directory together with its compose file's summary, or the reason it has none.
    public struct Entry: Sendable {
        public var directory: StackDirectory
        public var summary: Result<ComposeFileSummary, ComposeFileError>

        public init(directory: StackDirectory, summary: Result<ComposeFileSummary, ComposeFileError>) {
            self.directory = directory
            self.summary = summary
        }
    }

    /// Every managed, invalid and unmanaged stack, sorted by name.
    public func resolve(entries: [Entry], containers: [ComposeContainer]) -> [StackInfo] {
        let byProject = Dictionary(grouping: containers.filter { !$0.isOneOff }, by: \.project)
        var stacks: [StackInfo] = []
        var managedNames: Set<String> = []

        for entry in entries {
            guard StackName.isValid(entry.directory.directoryName) else {
                stacks.append(StackInfo(
                    name: entry.directory.directoryName, status: .invalid,
                    protected: protectedStacks.contains(entry.directory.directoryName),
                    services: [], directory: entry.directory.path, composeFile: entry.directory.composeFile,
                    problem: "the name does not match ^[a-z0-9][a-z0-9_-]{0,62}$; docker is never asked about it"
                ))
                continue
            }
            let name = entry.directory.directoryName
            managedNames.insert(name)
            let projectContainers = byProject[name] ?? []
            let summary = try? entry.summary.get()
            let services = Self.services(declared: summary?.services ?? [], containers: projectContainers)
            let protected = StackProtection.isProtected(
                name: name, configured: protectedStacks, summary: entry.summary, containers: projectContainers)
            let problem: String? = if case .failure(let error) = entry.summary {
                "compose file unreadable, so treated as protected: \(error)"
            } else {
                nil
            }
            stacks.append(StackInfo(
                name: name,
                status: Self.status(containers: projectContainers, services: services),
                protected: protected, services: services,
                directory: entry.directory.path, composeFile: entry.directory.composeFile, problem: problem
            ))
        }

        for (project, projectContainers) in byProject where !managedNames.contains(project) {
            stacks.append(StackInfo(
                name: project, status: .unmanaged,
                protected: StackProtection.isProtected(name: project, configured: protectedStacks, summary: nil, containers: projectContainers),
                services: Self.services(declared: [], containers: projectContainers),
                directory: projectContainers.compactMap(\.workingDirectory).first, composeFile: nil,
                problem: nil
            ))
        }
        return stacks.sorted { $0.name < $1.name }
    }

    static func status(containers: [ComposeContainer], services: [ServiceInfo]) -> StackStatus {
        guard !containers.isEmpty else { return .notDeployed }
        let running = services.filter(\.isRunning).count
        if running == services.count { return .running }
        return running == 0 ? .stopped : .partial
    }

    /// One entry per declared or existing service, sorted by name.
    static func services(declared: [String], containers: [ComposeContainer]) -> [ServiceInfo] {
        let byService = Dictionary(grouping: containers, by: \.service)
        let names = Set(declared).union(byService.keys).sorted()
        return names.map { name in
            let serviceContainers = (byService[name] ?? []).sorted { $0.id < $1.id }
            guard !serviceContainers.isEmpty else {
                return ServiceInfo(name: name, state: ServiceInfo.notCreated, health: nil, exitCode: nil, containers: 0)
            }
            let representative = serviceContainers.first { !$0.isRunning } ?? serviceContainers[0]
            return ServiceInfo(
                name: name,
                state: representative.state,
                health: serviceContainers.compactMap(\.health).min(by: { healthRank($0) < healthRank($1) }),
                exitCode: representative.isRunning ? nil : representative.exitCode,
                containers: serviceContainers.count
            )
        }
    }

    /// The worst health wins when replicas disagree.
    private static func healthRank(_ health: String) -> Int {
        switch health {
        case "unhealthy": 0
        case "starting": 1
        default: 2
        }
    }
}
