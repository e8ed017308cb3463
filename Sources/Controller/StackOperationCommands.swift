import ArgumentParser
import CommandLineSupport
import Stacks

/// The stack a compose operation acts on.
struct StackTarget: ParsableArguments {
    @Argument(help: "The stack's name: its directory in stacks_dir.")
    var name: String
}

/// Runs one compose operation for a CLI command and prints what it did.
private func perform(_ operation: StackOperation, on name: String, force: Bool, options: GlobalOptions) async throws {
    let config = try options.loadConfig()
    try await ControllerRuntime.verifyStacksMount(config.stacks)
    let operations = StackOperations(configuration: config.stacks, runner: SubprocessCommandRunner())
    do {
        try await operations.perform(operation, on: name, force: force)
    } catch {
        throw CommandFailure(message: "\(error)")
    }
    print("\(name): \(operation.rawValue) done")
}

/// `felhom-controller stacks up NAME`.
struct StacksUpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "up", abstract: "Create and start a stack's containers (detached).")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var target: StackTarget

    func run() async throws {
        try await reportingFailures { try await perform(.up, on: target.name, force: false, options: options) }
    }
}

/// `felhom-controller stacks start NAME`.
struct StacksStartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "start", abstract: "Start a deployed stack's existing containers.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var target: StackTarget

    func run() async throws {
        try await reportingFailures { try await perform(.start, on: target.name, force: false, options: options) }
    }
}

/// `felhom-controller stacks stop NAME [--force]`.
struct StacksStopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a stack's containers; refused for protected stacks without --force.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var target: StackTarget
    @Flag(help: "Stop even a protected stack.") var force = false

    func run() async throws {
        try await reportingFailures { try await perform(.stop, on: target.name, force: force, options: options) }
    }
}

/// `felhom-controller stacks restart NAME [--force]`.
struct StacksRestartCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "restart", abstract: "Restart a stack's containers; refused for protected stacks without --force.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var target: StackTarget
    @Flag(help: "Restart even a protected stack.") var force = false

    func run() async throws {
        try await reportingFailures { try await perform(.restart, on: target.name, force: force, options: options) }
    }
}

/// `felhom-controller stacks down NAME [--force]`.
struct StacksDownCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "down", abstract: "Remove a stack's containers and networks (never its volumes); refused for protected stacks without --force.")
    @OptionGroup var options: GlobalOptions
    @OptionGroup var target: StackTarget
    @Flag(help: "Take down even a protected stack.") var force = false

    func run() async throws {
        try await reportingFailures { try await perform(.down, on: target.name, force: force, options: options) }
    }
}
