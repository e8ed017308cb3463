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

    /// Where compose's resolution of each stack is kept between listings, usually
    /// `state_dir/compose-cache.json`; `nil` resolves every stack on every listing.
    public var resolutionCache: String?

    public init(
        stacksDirectory: String,
        protectedStacks: Set<String> = [],
        docker: DockerSettings = DockerSettings(),
        lockDirectory: String,
        lockWait: Duration = .seconds(30),
        resolutionCache: String? = nil
    ) {
        self.stacksDirectory = stacksDirectory
        self.protectedStacks = protectedStacks
        self.docker = docker
        self.lockDirectory = lockDirectory
        self.lockWait = lockWait
        self.resolutionCache = resolutionCache
    }

    /// The resolver over this configuration's docker and cache.
    public func resolver(runner: any CommandRunner) -> ComposeResolver {
        ComposeResolver(commands: DockerCommands(settings: docker), runner: runner, cache: resolutionCache.map(ComposeResolutionCache.init(path:)))
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

    /// How long compose may take to resolve one stack's files before it is killed.
    public var resolveTimeout: Duration
    /// The data-segment limit (`RLIMIT_DATA`) of compose while it resolves one stack's files.
    public var resolveMemoryBytes: Int

    public init(
        binary: String = "docker", commandTimeout: Duration = .seconds(120), operationTimeouts: [StackOperation: Duration] = [:],
        resolveTimeout: Duration = .seconds(30), resolveMemoryBytes: Int = 512 << 20
    ) {
        self.binary = binary
        self.commandTimeout = commandTimeout
        self.operationTimeouts = operationTimeouts
        self.resolveTimeout = resolveTimeout
        self.resolveMemoryBytes = resolveMemoryBytes
    }

    /// The timeout that applies to `operation`.
    public func timeout(for operation: StackOperation) -> Duration {
        operationTimeouts[operation] ?? commandTimeout
    }
}
