/// Where stacks live, which are protected, and how docker is run.
public struct StacksConfiguration: Sendable {
    /// The directory whose subdirectories are the stacks (`stacks_dir`).
    public var stacksDirectory: String
    /// Names of stacks that are never taken down without `force` (`protected`).
    public var protectedStacks: Set<String>
    public var docker: DockerSettings
    /// Where the per-stack lock files live, usually `state_dir/locks`.
    public var lockDirectory: String
    /// How long an operation waits for another one on the same stack before it fails as busy.
    public var lockWait: Duration

    public init(
        stacksDirectory: String,
        protectedStacks: Set<String> = [],
        docker: DockerSettings = DockerSettings(),
        lockDirectory: String,
        lockWait: Duration = .seconds(30)
    ) {
        self.stacksDirectory = stacksDirectory
        self.protectedStacks = protectedStacks
        self.docker = docker
        self.lockDirectory = lockDirectory
        self.lockWait = lockWait
    }
}

/// How the docker CLI is invoked.
public struct DockerSettings: Sendable {
    /// The docker binary, by name on `PATH` or by absolute path.
    public var binary: String
    /// The timeout of every command without an override.
    public var commandTimeout: Duration
    /// Per-operation timeouts that replace `commandTimeout`.
    public var operationTimeouts: [StackOperation: Duration]

    public init(binary: String = "docker", commandTimeout: Duration = .seconds(120), operationTimeouts: [StackOperation: Duration] = [:]) {
        self.binary = binary
        self.commandTimeout = commandTimeout
        self.operationTimeouts = operationTimeouts
    }

    /// The timeout that applies to `operation`.
    public func timeout(for operation: StackOperation) -> Duration {
        operationTimeouts[operation] ?? commandTimeout
    }
}
