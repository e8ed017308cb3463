import AgentAPI
import ArgumentParser
import CommandLineSupport
import Foundation
import Logging
import Quiesce

/// `felhom-controller rollback BACKUP_ID`: stop the app stacks, roll the guest back, restart them.
struct RollbackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollback",
        abstract: "Roll the guest's data back to one of its backups, with the app stacks stopped around it.",
        discussion: """
        Uses the quiesce machinery: the marker, the stops, POST /rollback, polling, and the restart of exactly \
        the stacks it stopped, with the same crash recovery. --json prints the cycle record. Exit 1 when the \
        rollback failed (the stacks are running again either way).
        """
    )

    @OptionGroup var options: GlobalOptions
    @Argument(help: "The backup to roll back to; `felhom-agent backups` lists them.")
    var backupID: String

    /// A mistyped id is refused here, before the config is read or any stack is stopped.
    func validate() throws {
        guard AgentID.isValid(backupID, kind: .backup) else {
            throw ValidationError("BACKUP_ID must look like \(AgentID.example(.backup)); `felhom-agent backups` lists them. Nothing was stopped")
        }
    }

    func run() async throws {
        try await reportingFailures {
            let runtime = try ControllerRuntime(config: try options.loadConfig(), logger: Logger(label: "felhom-controller"))
            guard runtime.agent != nil else {
                throw CommandFailure(message: "the config has no `agent` section; a rollback needs the host agent", exitCode: CommandFailure.configExitCode)
            }
            try await runtime.verifyStacksMount()
            let cycle = runtime.cycle
            let record: CycleRecord
            do {
                _ = try await cycle.recover()
                record = try await cycle.run(.rollback(backupID: backupID))
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            if options.json {
                print(try CommandLineJSON.render(record))
            } else {
                print("rollback to \(backupID): \(record.outcome.rawValue); restarted \(record.stacks.joined(separator: ", "))")
            }
            if record.outcome != .succeeded {
                throw CommandFailure(message: "rollback to \(backupID) failed: \(record.error ?? "unknown reason"); the stacks are running again")
            }
        }
    }
}
