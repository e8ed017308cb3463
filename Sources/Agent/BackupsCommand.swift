import AgentAPI
import ArgumentParser
import CommandLineSupport
import Foundation
import HostAgent

/// `felhom-agent backups [--guest NAME]`.
struct BackupsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backups",
        abstract: "List backups that are done or in flight, newest first.",
        discussion: """
        --json prints an array of objects with backup_id, guest, phase, consistency, started_at, \
        finished_at, size_bytes, bytes_done, bytes_total, capture_method, capture_reason, capture_window_ms, \
        archive_ms and archive (the archive's path, or its Proxmox volid). Failed backups are not listed; `ops` shows them.
        """
    )

    @OptionGroup var options: AgentOptions
    @Option(name: .long, help: "Only this guest's backups.")
    var guest: String?

    struct Output: Encodable {
        var status: BackupStatus
        var guest: String
        var sizeBytes: Int64?
        var archive: String?

        enum CodingKeys: String, CodingKey {
            case backupID = "backup_id", guest, phase, consistency
            case startedAt = "started_at", finishedAt = "finished_at"
            case sizeBytes = "size_bytes", bytesDone = "bytes_done", bytesTotal = "bytes_total"
            case captureMethod = "capture_method", captureReason = "capture_reason"
            case captureWindowMs = "capture_window_ms", archiveMs = "archive_ms", archive
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(status.backupID, forKey: .backupID)
            try container.encode(guest, forKey: .guest)
            try container.encode(status.phase, forKey: .phase)
            try container.encode(status.consistency, forKey: .consistency)
            try container.encode(status.startedAt, forKey: .startedAt)
            try container.encode(status.finishedAt, forKey: .finishedAt)
            try container.encode(sizeBytes, forKey: .sizeBytes)
            try container.encode(status.bytesDone, forKey: .bytesDone)
            try container.encode(status.bytesTotal, forKey: .bytesTotal)
            try container.encode(status.captureMethod, forKey: .captureMethod)
            try container.encode(status.captureReason, forKey: .captureReason)
            try container.encode(status.captureWindowMs, forKey: .captureWindowMs)
            try container.encode(status.archiveMs, forKey: .archiveMs)
            try container.encode(archive, forKey: .archive)
        }
    }

    func run() async throws {
        try await reportingFailures {
            let (_, store) = try options.openStore()
            let entries = try store.listedBackups(guest: guest)
            let outputs = entries.map { Output(status: $0.status, guest: $0.guest, sizeBytes: $0.sizeBytes, archive: $0.archivePath) }
            let rows = outputs.map { output in
                [output.status.backupID, output.guest, output.status.phase.rawValue, output.status.consistency.rawValue,
                 output.status.startedAt.formatted(.iso8601), output.sizeBytes.map(String.init) ?? "",
                 output.status.captureMethod?.rawValue ?? "", output.status.captureWindowMs.map(String.init) ?? ""]
            }
            try options.emit(outputs, text: TextTable(
                header: ["BACKUP_ID", "GUEST", "PHASE", "CONSISTENCY", "STARTED_AT", "SIZE_BYTES", "CAPTURE", "WINDOW_MS"], rows: rows).rendered)
        }
    }
}

/// `felhom-agent backup request GUEST`.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Ask for a backup.",
        subcommands: [BackupRequestCommand.self]
    )
}

/// Marks a guest's backup as due now; its controller starts it at its next poll.
struct BackupRequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Make a guest's backup due now; its controller quiesces and starts it at its next poll.",
        discussion: "--json prints {\"guest\", \"requested_at\"}."
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The guest.")
    var guest: String

    struct Output: Encodable {
        var guest: String
        var requestedAt: Date

        enum CodingKeys: String, CodingKey {
            case guest
            case requestedAt = "requested_at"
        }
    }

    func run() async throws {
        try await reportingFailures {
            let (_, store) = try options.openStore()
            let now = Date()
            do {
                try store.requestBackup(guest: guest, now: now)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            try options.emit(Output(guest: guest, requestedAt: now), text: "backup of \(guest) requested; it is due now")
        }
    }
}
