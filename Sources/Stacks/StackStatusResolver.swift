/// Combines what `stacks_dir` holds with what docker runs into one ``StackInfo`` per stack.
///
/// Pure: no I/O, so every status rule is unit-tested without docker.
public struct StackStatusResolver: Sendable {
    /// Names from the config's `protected` list.
    public var protectedStacks: Set<String>

    public init(protectedStacks: Set<String>) {
        self.protectedStacks = protectedStacks
    }

    /// A stack directory together with compose's resolution of it, or the reason there is none.
    /// Directories whose names are invalid are never resolved; their `project` is a failure.
    public struct Entry: Sendable {
        public var directory: StackDirectory
        public var project: Result<ComposeProject, ComposeFileError>

        public init(directory: StackDirectory, project: Result<ComposeProject, ComposeFileError>) {
            self.directory = directory
            self.project = project
        }

        /// The name the stack goes by: compose's project name, or the directory's when compose could not say.
        var name: String {
            if case .success(let project) = project { return project.name }
            return directory.directoryName
        }
    }

    /// Which directory a stack name means, for an operation.
    public enum Target: Sendable, Equatable {
        case managed(ManagedStack, project: Result<ComposeProject, ComposeFileError>)
        /// Two or more directories resolve to the name: their paths.
        case ambiguous([String])
        case none
    }

    /// The directory whose stack is called `name`, if exactly one is.
    public static func target(_ name: StackName, entries: [Entry]) -> Target {
        let matches = entries.filter { StackName.isValid($0.directory.directoryName) && $0.name == name.rawValue }
        guard let entry = matches.first else { return .none }
        guard matches.count == 1 else { return .ambiguous(matches.map(\.directory.path)) }
        let stack = ManagedStack(name: name, directory: entry.directory.path, composeFile: entry.directory.composeFile)
        return .managed(stack, project: entry.project)
    }

    /// Every managed, invalid and unmanaged stack, sorted by name.
    public func resolve(entries: [Entry], containers: [ComposeContainer]) -> [StackInfo] {
        let byProject = Dictionary(grouping: containers.filter { !$0.isOneOff }, by: \.project)
        let valid = entries.filter { StackName.isValid($0.directory.directoryName) }
        let deployedFrom = Dictionary(grouping: containers.filter { $0.workingDirectory != nil }, by: { $0.workingDirectory! })
            .mapValues { Set($0.map(\.project)) }
        // Compose could not say the name now; the containers deployed from the directory say what it was.
        func name(_ entry: Entry) -> String {
            if case .failure = entry.project, let projects = deployedFrom[entry.directory.path], projects.count == 1 { return projects.first! }
            return entry.name
        }
        let claims = Dictionary(grouping: valid, by: name)
        var stacks: [StackInfo] = []
        var managedNames: Set<String> = []

        for entry in entries {
            let directory = entry.directory
            guard StackName.isValid(directory.directoryName) else {
                stacks.append(invalid(directory, name: directory.directoryName, protected: protectedStacks.contains(directory.directoryName),
                    problem: "the name does not match ^[a-z0-9][a-z0-9_-]{0,62}$; docker is never asked about it"))
                continue
            }
            let name = name(entry)
            managedNames.insert(name)
            let protectedHere = StackProtection.isProtected(
                name: name, configured: protectedStacks, project: entry.project, containers: byProject[name] ?? [])
            guard StackName.isValid(name) else {
                stacks.append(invalid(directory, name: directory.directoryName, protected: protectedHere,
                    problem: "compose resolves the project name \"\(name)\", which does not match ^[a-z0-9][a-z0-9_-]{0,62}$; set a `name:` that does"))
                continue
            }
            if let claimants = claims[name], claimants.count > 1 {
                let others = claimants.map(\.directory.directoryName).filter { $0 != directory.directoryName }
                stacks.append(invalid(directory, name: directory.directoryName, protected: protectedHere,
                    problem: "compose resolves this directory and \(others.joined(separator: ", ")) to the same project \"\(name)\"; neither is operated on until each has its own name"))
                continue
            }
            let projectContainers = byProject[name] ?? []
            let declared = (try? entry.project.get())?.services ?? []
            let services = Self.services(declared: declared, containers: projectContainers)
            let problem: String? = if case .failure(let error) = entry.project {
                "compose cannot resolve this stack, so it is treated as protected: \(error)"
            } else {
                nil
            }
            stacks.append(StackInfo(
                name: name,
                status: Self.status(containers: projectContainers, services: services),
                protected: protectedHere, services: services,
                directory: directory.path, composeFile: directory.composeFile, problem: problem
            ))
        }

        for (project, projectContainers) in byProject where !managedNames.contains(project) {
            stacks.append(StackInfo(
                name: project, status: .unmanaged,
                protected: StackProtection.isProtected(name: project, configured: protectedStacks, project: nil, containers: projectContainers),
                services: Self.services(declared: [], containers: projectContainers),
                directory: projectContainers.compactMap(\.workingDirectory).first, composeFile: nil,
                problem: nil
            ))
        }
        return stacks.sorted { $0.name < $1.name }
    }

    private func invalid(_ directory: StackDirectory, name: String, protected: Bool, problem: String) -> StackInfo {
        StackInfo(
            name: name, status: .invalid, protected: protected, services: [],
            directory: directory.path, composeFile: directory.composeFile, problem: problem)
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
