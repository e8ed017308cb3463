import ArgumentParser
import CommandLineSupport
import Foundation
import HostAgent

/// `felhom-agent ops`: the op journal.
struct OpsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "List the op journal, newest first.",
        discussion: "--json prints an array of {\"id\", \"kind\", \"guest\", \"state\", \"idempotency_key\", \"error\", \"created_at\", \"updated_at\", \"finished_at\"}."
    )

    @OptionGroup var options: AgentOptions

    func run() async throws {
        try await reportingFailures {
            let (_, store) = try options.openStore()
            let ops = try store.ops()
            let rows = ops.map { [$0.id, $0.kind.rawValue, $0.guest, $0.state.rawValue, $0.createdAt.formatted(.iso8601), $0.error ?? ""] }
            try options.emit(ops, text: TextTable(header: ["ID", "KIND", "GUEST", "STATE", "CREATED_AT", "ERROR"], rows: rows).rendered)
        }
    }
}
