import AgentAPI
import ArgumentParser
import CommandLineSupport
import Foundation
import HostAgent
import Logging

/// `felhom-agent restore-test run GUEST`.
struct RestoreTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore-test",
        abstract: "Run restore tests.",
        subcommands: [RestoreTestRunCommand.self]
    )
}

/// Restores the guest's latest backup into scratch, verifies it, runs its probe, and records the result.
struct RestoreTestRunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run one restore test of a guest's latest successful backup now.",
        discussion: "--json prints the result as GET /restore-test/status does. Exit 1 when the test failed."
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The guest.")
    var guest: String

    func run() async throws {
        try await reportingFailures {
            let (configuration, store) = try options.openStore()
            guard let record = try store.guest(named: guest) else {
                throw CommandFailure(message: "no guest named \(guest)")
            }
            let logger = Logger(label: "felhom-agent")
            let runner = RestoreTestRunner(store: store, backend: try configuration.makeBackend(logger: logger), logger: logger)
            let entry: RestoreTestEntry
            do {
                entry = try await runner.run(guest: record)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            let status = entry.status(interval: configuration.restoreTestInterval ?? .seconds(86400))
            let lines = status.checks.map { "  \($0.ok ? "ok  " : "FAIL") \($0.name): \($0.detail)" }
            try options.emit(status, text: (["restore test of \(entry.backupID): \(entry.result?.rawValue ?? "?")"] + lines).joined(separator: "\n"))
            if entry.result != .passed {
                throw ExitCode(1)
            }
        }
    }
}

/// `felhom-agent restore-tests`: every recorded restore test.
struct RestoreTestsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore-tests",
        abstract: "List restore test results, newest first.",
        discussion: "--json prints an array of {guest, backup_id, started_at, finished_at, result, checks, next_due_at}."
    )

    @OptionGroup var options: AgentOptions
    @Option(name: .long, help: "Only this guest's results.")
    var guest: String?

    struct Output: Encodable {
        var guest: String
        var status: RestoreTestStatus

        func encode(to encoder: any Encoder) throws {
            try status.encode(to: encoder)
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(guest, forKey: Key(stringValue: "guest"))
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
    }

    func run() async throws {
        try await reportingFailures {
            let (configuration, store) = try options.openStore()
            let interval = configuration.restoreTestInterval ?? .seconds(86400)
            let entries = try store.restoreTests(guest: guest)
            let outputs = entries.map { Output(guest: $0.guest, status: $0.status(interval: interval)) }
            let rows = entries.map { entry in
                [entry.op.id, entry.guest, entry.backupID, entry.result?.rawValue ?? entry.op.state.rawValue,
                 entry.checks.filter { !$0.ok }.map(\.name).joined(separator: "; ")]
            }
            try options.emit(outputs, text: TextTable(header: ["OP", "GUEST", "BACKUP", "RESULT", "FAILED CHECKS"], rows: rows).rendered)
        }
    }
}

/// `felhom-agent guest probe NAME …`: what a restore test starts on the restored data.
struct GuestProbeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Set a guest's restore-test probe: a compose service from its backup, started on the restored data.",
        discussion: """
        --directory is the folder inside the data dir that holds the compose file (e.g. pgapp). The service is \
        started under a scratch project; --expect must appear in its log within --timeout-seconds, and --reject must not.
        For a Proxmox guest, give the command after --: it runs with `pct exec` in the restored scratch container, \
        must exit 0 within --timeout-seconds, and print --expect; e.g. -- sh -c 'pg_isready'.
        """
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The guest.")
    var guest: String
    @Option(name: .long, help: "The folder inside the data dir with the compose file.")
    var directory: String?
    @Option(name: .long, help: "The compose service to start.")
    var service: String?
    @Option(name: .long, help: "A log pattern that must appear.")
    var expect: String
    @Option(name: .long, help: "A log pattern that must not appear.")
    var reject: String?
    @Option(name: .customLong("timeout-seconds"), help: "How long to wait for --expect.")
    var timeoutSeconds = 120
    @Argument(parsing: .postTerminator, help: "For a Proxmox guest: the command to run in the restored container.")
    var command: [String] = []

    func run() async throws {
        try await reportingFailures {
            let probe: RestoreProbe
            if command.isEmpty {
                guard let directory, let service else {
                    throw CommandFailure(message: "a compose probe needs --directory and --service; a Proxmox guest's probe is a command after --", exitCode: 64)
                }
                guard !directory.hasPrefix("/"), !directory.split(separator: "/").contains("..") else {
                    throw CommandFailure(message: "--directory must be a relative path inside the data dir", exitCode: 64)
                }
                probe = RestoreProbe(directory: directory, service: service, expect: expect, reject: reject, timeoutSeconds: timeoutSeconds)
            } else {
                guard directory == nil, service == nil else {
                    throw CommandFailure(message: "give either a command after -- or --directory and --service, not both", exitCode: 64)
                }
                probe = RestoreProbe(directory: "", service: "", expect: expect, reject: reject, timeoutSeconds: timeoutSeconds, command: command)
            }
            let (_, store) = try options.openStore()
            do {
                try store.setProbe(guest: guest, probe: probe)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            try options.emit(["guest": guest, "probe": "set"], text: "probe of \(guest) set")
        }
    }
}
