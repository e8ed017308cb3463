import ArgumentParser
import CommandLineSupport
import Foundation
import Stacks

/// `felhom-controller stacks list [--json]`.
struct StacksListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List every stack with its status.",
        discussion: """
        --json prints an array of objects with the keys name, status, protected, \
        services_running, services_total, services (name, state, health, exit_code, \
        containers), directory, compose_file and problem. status is one of running, \
        partial, stopped, not_deployed, invalid, unmanaged.
        """
    )

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await reportingFailures {
            let config = try options.loadConfig()
            let catalog = StackCatalog(configuration: config.stacks, runner: SubprocessCommandRunner())
            let stacks: [StackInfo]
            do {
                stacks = try await catalog.list()
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            print(options.json ? try Self.json(stacks) : Self.table(stacks))
        }
    }

    static func json(_ stacks: [StackInfo]) throws -> String {
        try CommandLineJSON.render(stacks)
    }

    static func table(_ stacks: [StackInfo]) -> String {
        let header = ["NAME", "STATUS", "PROTECTED", "SERVICES", "NOTE"]
        let rows = stacks.map { stack in
            [stack.name, stack.status.rawValue, stack.protected ? "yes" : "no",
             "\(stack.servicesRunning)/\(stack.servicesTotal)", stack.problem ?? ""]
        }
        return TextTable(header: header, rows: rows).rendered
    }
}
