import ArgumentParser
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
    @Flag(name: .long, help: "Print JSON for scripts instead of a table.")
    var json = false

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
            print(json ? try Self.json(stacks) : Self.table(stacks))
        }
    }

    static func json(_ stacks: [StackInfo]) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(stacks), as: UTF8.self)
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

/// A plain, left-aligned text table.
struct TextTable {
    var header: [String]
    var rows: [[String]]

    var rendered: String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : row[column].padding(toLength: widths[column], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").trimmingCharacters(in: .whitespaces)
        }.joined(separator: "\n")
    }
}
