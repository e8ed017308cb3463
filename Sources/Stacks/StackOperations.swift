import Logging

/// Performs `up`, `start`, `stop`, `restart` and `down` on managed stacks.
///
/// Every operation validates the name before anything else, refuses to take a
/// protected stack down without `force`, holds the stack's lock, and runs
/// compose as an argv with a timeout.
public struct StackOperations: Sendable {
    public var configuration: StacksConfiguration
    public var runner: any CommandRunner
    public var logger: Logger

    public init(configuration: StacksConfiguration, runner: any CommandRunner, logger: Logger = Logger(label: "felhom.stacks")) {
        self.configuration = configuration
        self.runner = runner
        self.logger = logger
    }

    /// Runs `operation` on the stack called `name`.
    ///
    /// Idempotent: stopping a stopped stack or starting a running one succeeds.
    /// - Parameter force: allows `stop`, `restart` and `down` on a protected stack.
    public func perform(_ operation: StackOperation, on name: String, force: Bool = false) async throws(StackError) {
        let stackName = try StackName(validating: name)
        let lock = StackLock(lockDirectory: configuration.lockDirectory, wait: configuration.lockWait)
        let started = ContinuousClock.now
        // Resolved and checked under the lock, so an `up` that deploys a protection label while
        // this waits is seen before anything is stopped.
        try await lock.withLock(stackName, operation: operation) { () throws(StackError) in
            let (stack, project, containers) = try await resolve(stackName)
            if operation.takesServicesDown, !force,
               StackProtection.isProtected(name: name, configured: configuration.protectedStacks, project: project, containers: containers) {
                // Refused either way; files compose cannot resolve are the more useful thing to say.
                if case .failure(let error) = project {
                    throw StackError(code: .malformedComposeFile, stack: name, composeFile: stack.composeFile, stderr: error.message)
                }
                throw StackError(code: .protected, stack: name, operation: operation)
            }
            for command in DockerCommands(settings: configuration.docker).compose(operation, stack) {
                let output = try await runner.runMapped(command, stack: name, operation: operation)
                guard output.succeeded else {
                    throw classifyFailure(output, stack: stack, operation: operation, project: project)
                }
            }
        }
        let elapsed = (ContinuousClock.now - started) / .milliseconds(1)
        logger.info("stack operation done", metadata: [
            "stack": "\(name)", "operation": "\(operation.rawValue)", "duration_ms": "\(Int(elapsed))",
        ])
    }

    /// The directory whose project compose resolves to `name`, with the project's containers: they
    /// hold what compose resolved at deploy time, which may differ from what the files say now.
    private func resolve(_ name: StackName) async throws(StackError) -> (ManagedStack, Result<ComposeProject, ComposeFileError>, [ComposeContainer]) {
        let entries = try await StackCatalog(configuration: configuration, runner: runner).entries()
        let inventory = ContainerInventory(commands: DockerCommands(settings: configuration.docker), runner: runner)
        // Without docker the compose command fails as well; the config and the files still decide protection.
        let containers = (try? await inventory.containers()) ?? []
        switch StackStatusResolver.target(name, entries: entries, containers: containers) {
        case .managed(let stack, let project):
            return (stack, project, containers.filter { $0.project == name.rawValue })
        case .refused(let reason):
            throw StackError(code: .ambiguousProject, stack: name.rawValue, detail: reason)
        case .none:
            if containers.contains(where: { $0.project == name.rawValue }) {
                throw StackError(code: .unmanaged, stack: name.rawValue)
            }
            throw StackError(code: .unknownStack, stack: name.rawValue)
        }
    }

    private func classifyFailure(
        _ output: CommandOutput, stack: ManagedStack, operation: StackOperation, project: Result<ComposeProject, ComposeFileError>
    ) -> StackError {
        let stderr = output.standardError.trimmedWhitespace
        let fileName = stack.composeFile.split(separator: "/").last.map(String.init) ?? stack.composeFile
        let unresolved = if case .failure = project { true } else { false }
        let code: StackError.Code
        if stderr.contains("no container found") || stderr.contains("has no container to start") {
            code = .notDeployed
        } else if unresolved || stderr.contains(fileName) || stderr.contains("yaml:") {
            code = .malformedComposeFile
        } else {
            code = .commandFailed
        }
        let exit = output.exitCode.map { "exit \($0)" } ?? "killed by a signal"
        return StackError(code: code, stack: stack.name.rawValue, operation: operation,
                          composeFile: stack.composeFile, stderr: stderr, detail: exit)
    }
}
