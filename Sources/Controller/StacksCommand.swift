import ArgumentParser

/// `felhom-controller stacks …`: list stacks and run compose operations on them.
struct StacksCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stacks",
        abstract: "List the stacks and start, stop or deploy them.",
        subcommands: [StacksListCommand.self, StacksUpCommand.self, StacksStartCommand.self,
                      StacksStopCommand.self, StacksRestartCommand.self, StacksDownCommand.self]
    )
}
