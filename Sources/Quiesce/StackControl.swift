import Stacks

/// What the quiesce loop does to stacks: the seam around docker.
public protocol StackControl: Sendable {
    /// Deployed, non-protected stacks that are running or partial, by name.
    func runningAppStacks() async throws -> [String]
    func stop(_ stack: String) async throws
    func start(_ stack: String) async throws
    /// Waits for docker commands a dead controller left running on these stacks.
    func waitForOrphanedOperations(_ stacks: [String]) async

    /// Whether the stack is up again (running, or partial as a stack with a one-shot service is).
    func isUp(_ stack: String) async throws -> Bool
}

/// ``StackControl`` over the docker CLI, through the Stacks module.
public struct ComposeStackControl: StackControl {
    public let catalog: StackCatalog
    public let operations: StackOperations

    public init(catalog: StackCatalog, operations: StackOperations) {
        self.catalog = catalog
        self.operations = operations
    }

    public func runningAppStacks() async throws -> [String] {
        try await catalog.runningAppStacks().map(\.rawValue)
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

    public func isUp(_ stack: String) async throws -> Bool {
        try await catalog.info(stack).status.isUp
    }
}
