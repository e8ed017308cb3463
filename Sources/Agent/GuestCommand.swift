import ArgumentParser
import CommandLineSupport
import Foundation
import HostAgent

/// `felhom-agent guest add|list`.
struct GuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Add and list guests.",
        subcommands: [GuestAddCommand.self, GuestListCommand.self, GuestProbeCommand.self]
    )
}

/// `felhom-agent guest add NAME --data-dir DIR`.
struct GuestAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a guest and print its bearer token, once.",
        discussion: "--json prints {\"guest\", \"token\"}. Only the token's SHA-256 is stored; keep the token now."
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The guest's name: lowercase letters, digits, - and _.")
    var name: String
    @Option(name: .customLong("data-dir"), help: "The absolute path of the directory its backups capture.")
    var dataDirectory: String
    @Option(name: .customLong("interval-seconds"), help: "How often a backup is due.")
    var intervalSeconds = 86400

    struct Output: Encodable {
        var guest: String
        var token: String
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.first, first.isLowercase || first.isNumber, name.count <= 63 else { return false }
        return name.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || $0 == "-" || $0 == "_" }
    }

    func run() async throws {
        try await reportingFailures {
            guard Self.isValidName(name) else {
                throw CommandFailure(message: "guest name \"\(name)\" is invalid; use ^[a-z0-9][a-z0-9_-]{0,62}$", exitCode: 64)
            }
            guard dataDirectory.hasPrefix("/") else {
                throw CommandFailure(message: "--data-dir must be an absolute path, got \"\(dataDirectory)\"", exitCode: 64)
            }
            guard intervalSeconds >= 60 else {
                throw CommandFailure(message: "--interval-seconds must be at least 60", exitCode: 64)
            }
            let (_, store) = try options.openStore()
            let token = GuestToken.generate()
            do {
                try store.addGuest(GuestRecord(
                    name: name, dataDirectory: dataDirectory, intervalSeconds: intervalSeconds,
                    tokenSHA256: GuestToken.digest(token), backupRequestedAt: nil, createdAt: Date()))
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            try options.emit(Output(guest: name, token: token), text: "guest \(name) added\ntoken (shown once): \(token)")
        }
    }
}

/// `felhom-agent guest list`.
struct GuestListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List guests.",
        discussion: "--json prints an array of {\"guest\", \"data_dir\", \"interval_seconds\", \"backup_requested_at\"}."
    )

    @OptionGroup var options: AgentOptions

    struct Output: Encodable {
        var guest: String
        var dataDir: String
        var intervalSeconds: Int
        var backupRequestedAt: Date?

        enum CodingKeys: String, CodingKey {
            case guest
            case dataDir = "data_dir"
            case intervalSeconds = "interval_seconds"
            case backupRequestedAt = "backup_requested_at"
        }
    }

    func run() async throws {
        try await reportingFailures {
            let (_, store) = try options.openStore()
            let guests = try store.guests()
            let rows = guests.map { [$0.name, $0.dataDirectory, "\($0.intervalSeconds)", $0.backupRequestedAt == nil ? "" : "requested"] }
            try options.emit(
                guests.map { Output(guest: $0.name, dataDir: $0.dataDirectory, intervalSeconds: $0.intervalSeconds, backupRequestedAt: $0.backupRequestedAt) },
                text: TextTable(header: ["GUEST", "DATA_DIR", "INTERVAL_S", "NOTE"], rows: rows).rendered)
        }
    }
}
