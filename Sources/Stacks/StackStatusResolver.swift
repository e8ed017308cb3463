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
        /// The name cannot be operated on: two directories claim it, or it is not a safe name. Says which.
        case refused(String)
        case none
    }

    /// One valid directory's claim on a stack name, and why it cannot be operated on, if it cannot.
    struct Claim {
        var entry: Entry
        var name: String
        var conflict: String?
    }

    /// The one naming rule, for the list and for operations alike. A directory goes by compose's
    /// project name; when compose cannot say, by the project its containers were deployed under
    /// from this directory, else by the directory's name. A name two directories claim, or whose
    /// containers were deployed from another directory, is a conflict, and neither is operated on.
    static func claims(_ entries: [Entry], containers: [ComposeContainer]) -> [Claim] {
        let deployed = containers.filter { !$0.isOneOff }
        var deployedFrom: [String: Set<String>] = [:]
        var directoriesOf: [String: Set<String>] = [:]
        for container in deployed {
            guard let directory = container.workingDirectory.map(canonical) else { continue }
            deployedFrom[directory, default: []].insert(container.project)
            directoriesOf[container.project, default: []].insert(directory)
        }
        let named: [(Entry, String)] = entries.filter { StackName.isValid($0.directory.directoryName) }.map { entry in
            if case .failure = entry.project, let projects = deployedFrom[canonical(entry.directory.path)], projects.count == 1 {
                return (entry, projects.first ?? entry.name)
            }
            return (entry, entry.name)
        }
        let claimants = Dictionary(grouping: named, by: \.1)
        return named.map { entry, name in
            let path = canonical(entry.directory.path)
            if let others = claimants[name]?.map(\.0.directory.directoryName).filter({ $0 != entry.directory.directoryName }), !others.isEmpty {
                return Claim(entry: entry, name: name, conflict:
                    "compose resolves this directory and \(others.joined(separator: ", ")) to the same project \"\(name)\"; neither is operated on until each has its own name")
            }
            if let elsewhere = directoriesOf[name]?.subtracting([path]).sorted().first {
                return Claim(entry: entry, name: name, conflict:
                    "containers of project \"\(name)\" were deployed from \(elsewhere), not from this directory; neither is operated on until one is renamed or taken down")
            }
            if !StackName.isValid(name) {
                return Claim(entry: entry, name: name, conflict:
                    "compose resolves the project name \"\(name)\", which does not match ^[a-z0-9][a-z0-9_-]{0,62}$; set a `name:` that does")
            }
            return Claim(entry: entry, name: name, conflict: nil)
        }
    }

    /// `a//b/./c/` as `a/b/c`: by text alone, so this stays free of I/O.
    static func canonical(_ path: String) -> String {
        let parts = path.split(separator: "/").filter { $0 != "." }
        return (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
    }

    /// The directory whose stack is called `name`, by the same rule as the list.
    public static func target(_ name: StackName, entries: [Entry], containers: [ComposeContainer]) -> Target {
        let matches = claims(entries, containers: containers).filter { $0.name == name.rawValue }
        guard let claim = matches.first else { return .none }
        if let conflict = claim.conflict { return .refused(conflict) }
        let stack = ManagedStack(name: name, directory: claim.entry.directory.path, composeFile: claim.entry.directory.composeFile)
        return .managed(stack, project: claim.entry.project)
    }

    /// Every managed, invalid and unmanaged stack, sorted by name.
    public func resolve(entries: [Entry], containers: [ComposeContainer]) -> [StackInfo] {
        let byProject = Dictionary(grouping: containers.filter { !$0.isOneOff }, by: \.project)
        var stacks: [StackInfo] = []
        var managedNames: Set<String> = []

        for entry in entries where !StackName.isValid(entry.directory.directoryName) {
            stacks.append(invalid(entry.directory, name: entry.directory.directoryName, protected: protectedStacks.contains(entry.directory.directoryName),
                problem: "the name does not match ^[a-z0-9][a-z0-9_-]{0,62}$; docker is never asked about it"))
        }
        for claim in Self.claims(entries, containers: containers) {
            let (entry, name, directory) = (claim.entry, claim.name, claim.entry.directory)
            managedNames.insert(name)
            let projectContainers = byProject[name] ?? []
            let protected = StackProtection.isProtected(
                name: name, configured: protectedStacks, project: entry.project, containers: projectContainers)
            if let conflict = claim.conflict {
                stacks.append(invalid(directory, name: directory.directoryName, protected: protected, problem: conflict))
                continue
            }
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
                protected: protected, services: services,
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
