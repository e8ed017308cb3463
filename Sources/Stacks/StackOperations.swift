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
        let stack = try await resolve(stackName)
        if operation.takesServicesDown, !force {
            let summary = Result { () throws(ComposeFileError) in try ComposeFileSummary.load(path: stack.composeFile) }
            if await isProtected(stack, summary: summary) {
                // Refused either way; an unreadable file is the more useful thing to say.
                if case .failure(let error) = summary {
                    throw StackError(code: .malformedComposeFile, stack: name, composeFile: stack.composeFile, stderr: error.message)
                }
                throw StackError(code: .protected, stack: name, operation: operation)
            }
        }
        let lock = StackLock(lockDirectory: configuration.lockDirectory, wait: configuration.lockWait)
        let commands = DockerCommands(settings: configuration.docker).compose(operation, stack)
        let started = ContinuousClock.now
        try await lock.withLock(stackName, operation: operation) { () throws(StackError) in
            for command in commands {
                let output = try await runner.runMapped(command, stack: name, operation: operation)
                guard output.succeeded else {
                    throw classifyFailure(output, stack: stack, operation: operation)
                }
            }
        }
        let elapsed = (ContinuousClock.now - started) / .milliseconds(1)
        logger.info("stack operation done", metadata: [
            "stack": "\(name)", "operation": "\(operation.rawValue)", "duration_ms": "\(Int(elapsed))",
        ])
    }

    private func resolve(_ name: StackName) async throws(StackError) -> ManagedStack {
        if let directory = StackDirectory.find(named: name.rawValue, in: configuration.stacksDirectory),
           let stack = directory.managedStack {
            return stack
        }
        // Only on this error path is docker asked, to tell "unmanaged" from "unknown".
        let inventory = ContainerInventory(commands: DockerCommands(settings: configuration.docker), runner: runner)
        if let containers = try? await inventory.containers(), containers.contains(where: { $0.project == name.rawValue }) {
            throw StackError(code: .unmanaged, stack: name.rawValue)
        }
        throw StackError(code: .unknownStack, stack: name.rawValue)
    }

    /// ``StackProtection``'s answer, with the containers' labels: they hold what compose resolved
    /// at deploy time, which our own reading of the file can miss (`include:`, `extends`, `.env`).
    private func isProtected(_ stack: ManagedStack, summary: Result<ComposeFileSummary, ComposeFileError>) async -> Bool {
        let name = stack.name.rawValue
        // Docker is asked only when the config and the file do not already decide.
        if StackProtection.isProtected(name: name, configured: configuration.protectedStacks, summary: summary, containers: []) { return true }
        let inventory = ContainerInventory(commands: DockerCommands(settings: configuration.docker), runner: runner)
        // Without docker the compose command below fails as well; the file and the config still decide here.
        let containers = ((try? await inventory.containers()) ?? []).filter { $0.project == name }
        return StackProtection.isProtected(name: name, configured: configuration.protectedStacks, summary: summary, containers: containers)
    }

    private func classifyFailure(_ output: CommandOutput, stack: ManagedStack, operation: StackOperation) -> StackError {
        let stderr = output.standardError.trimmedWhitespace
        let fileName = stack.composeFile.split(separator: "/").last.map(String.init) ?? stack.composeFile
        let code: StackError.Code
        if stderr.contains("no container found") || stderr.contains("has no container to start") {
            code = .notDeployed
        } else if stderr.contains(fileName) || stderr.contains("yaml:") || (try? ComposeFileSummary.load(path: stack.composeFile)) == nil {
            code = .malformedComposeFile
        } else {
            code = .commandFailed
        }
        let exit = output.exitCode.map { "exit \($0)" } ?? "killed by a signal"
        return StackError(code: code, stack: stack.name.rawValue, operation: operation,
                          composeFile: stack.composeFile, stderr: stderr, detail: exit)
    }
}
