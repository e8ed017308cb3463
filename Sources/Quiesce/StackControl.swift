import Stacks

/// What the quiesce loop does to stacks: the seam around docker.
public protocol StackControl: Sendable {
    /// Deployed, non-protected stacks that are running or partial, by name, with whether each is fully running.
    func runningAppStacks() async throws -> [AppStack]
    func stop(_ stack: String) async throws
    func start(_ stack: String) async throws
    /// Waits for docker commands a dead controller left running on these stacks.
    func waitForOrphanedOperations(_ stacks: [String]) async

    /// The stack's status now.
    func status(_ stack: String) async throws -> StackStatus
}

/// ``StackControl`` over the docker CLI, through the Stacks module.
public struct ComposeStackControl: StackControl {
    public let catalog: StackCatalog
    public let operations: StackOperations

    public init(catalog: StackCatalog, operations: StackOperations) {
        self.catalog = catalog
        self.operations = operations
    }

    public func runningAppStacks() async throws -> [AppStack] {
        let running = Set(try await catalog.runningAppStacks().map(\.rawValue))
        return try await catalog.list().filter { running.contains($0.name) }.sorted { $0.name < $1.name }
            .map { AppStack(name: $0.name, fullyRunning: $0.status == .running) }
    }

    public func stop(_ stack: String) async throws {
        try await operations.perform(.stop, on: stack)
    }

    public func start(_ stack: String) async throws {
        try await operations.perform(.start, on: stack)
    }

    public func waitForOrphanedOperations(_ stacks: [String]) async {
        _ = await OrphanedComposeProcesses.waitForExit(projects: Set(stacks), timeout: catalog.configuration.docker.commandTimeout)
    }

    public func status(_ stack: String) async throws -> StackStatus {
        try await catalog.info(stack).status
    }
}

/// An app stack a cycle stops, and whether all its services ran before.
public struct AppStack: Sendable, Equatable {
    public var name: String
    /// False for a stack that was already partial (a one-shot service that exited, say); it only has to be partial again.
    public var fullyRunning: Bool

    public init(name: String, fullyRunning: Bool) {
        self.name = name
        self.fullyRunning = fullyRunning
    }
}
