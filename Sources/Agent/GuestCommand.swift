import ArgumentParser
import CommandLineSupport
import Foundation
import Capture
import HostAgent

/// `felhom-agent guest add|list`.
struct GuestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guest",
        abstract: "Add and list guests.",
        subcommands: [GuestAddCommand.self, GuestListCommand.self, GuestProbeCommand.self, GuestCaptureCommand.self]
    )
}

/// `felhom-agent guest add NAME --data-dir DIR`, or `--vmid ID` with the Proxmox backend.
struct GuestAddCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "add",
        abstract: "Add a guest and print its bearer token, once.",
        discussion: "--json prints {\"guest\", \"token\"}. Only the token's SHA-256 is stored; keep the token now."
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The guest's name: lowercase letters, digits, - and _.")
    var name: String
    @Option(name: .customLong("data-dir"), help: "The absolute path of the directory its backups capture (directory backend).")
    var dataDirectory: String?
    @Option(help: "The guest's Proxmox container id (proxmox backend).")
    var vmid: Int?
    @Option(name: .customLong("interval-seconds"), help: "How often a backup is due.")
    var intervalSeconds = 86400
    @Option(help: "How a backup captures the data dir while the apps are stopped: auto, snapshot, reflink, copy or off.")
    var capture = "auto"

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
            guard intervalSeconds >= 60 else {
                throw CommandFailure(message: "--interval-seconds must be at least 60", exitCode: 64)
            }
            let setting = try GuestCaptureCommand.parse(capture)
            let (configuration, store) = try options.openStore()
            if configuration.proxmox != nil {
                guard let vmid, vmid >= 100 else {
                    throw CommandFailure(message: "the proxmox backend backs up containers: give --vmid ID (100 or more), the guest's container id", exitCode: 64)
                }
                guard dataDirectory == nil else {
                    throw CommandFailure(message: "--data-dir is for the directory backend; the proxmox backend backs up the whole container --vmid names", exitCode: 64)
                }
            } else {
                guard vmid == nil else {
                    throw CommandFailure(message: "--vmid is for the proxmox backend; this config's backend is directory, so give --data-dir", exitCode: 64)
                }
                guard let dataDirectory, dataDirectory.hasPrefix("/") else {
                    throw CommandFailure(message: "--data-dir must be an absolute path, got \"\(dataDirectory ?? "nothing")\"", exitCode: 64)
                }
            }
            let token = GuestToken.generate()
            do {
                var record = GuestRecord(
                    name: name, dataDirectory: dataDirectory ?? "", intervalSeconds: intervalSeconds,
                    tokenSHA256: GuestToken.digest(token), backupRequestedAt: nil, createdAt: Date())
                record.capture = setting
                record.vmid = vmid
                try store.addGuest(record)
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
        discussion: "--json prints an array of {\"guest\", \"data_dir\", \"interval_seconds\", \"backup_requested_at\", \"capture\"}."
    )

    @OptionGroup var options: AgentOptions

    struct Output: Encodable {
        var guest: String
        var dataDir: String
        var intervalSeconds: Int
        var backupRequestedAt: Date?
        var capture: String

        enum CodingKeys: String, CodingKey {
            case guest, capture
            case dataDir = "data_dir"
            case intervalSeconds = "interval_seconds"
            case backupRequestedAt = "backup_requested_at"
        }
    }

    func run() async throws {
        try await reportingFailures {
            let (_, store) = try options.openStore()
            let guests = try store.guests()
            let rows = guests.map { [$0.name, $0.dataDirectory, "\($0.intervalSeconds)", $0.capture.rawValue, $0.backupRequestedAt == nil ? "" : "requested"] }
            try options.emit(
                guests.map {
                    Output(guest: $0.name, dataDir: $0.dataDirectory, intervalSeconds: $0.intervalSeconds,
                           backupRequestedAt: $0.backupRequestedAt, capture: $0.capture.rawValue)
                },
                text: TextTable(header: ["GUEST", "DATA_DIR", "INTERVAL_S", "CAPTURE", "NOTE"], rows: rows).rendered)
        }
    }
}

/// `felhom-agent guest capture NAME MODE`.
struct GuestCaptureCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Set how a guest's backups capture its data dir while its apps are stopped.",
        discussion: """
            auto picks by file system: a btrfs subvolume is snapshotted; XFS and plain btrfs directories are \
            reflinked; anything else is copied ahead. off keeps the apps down for the whole archive.
            """
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The guest's name.")
    var name: String
    @Argument(help: "auto, snapshot, reflink, copy or off.")
    var mode: String

    static func parse(_ text: String) throws -> CaptureSetting {
        guard let setting = CaptureSetting(rawValue: text) else {
            let allowed = CaptureSetting.allCases.map(\.rawValue).joined(separator: ", ")
            throw CommandFailure(message: "capture \"\(text)\" is not one of \(allowed)", exitCode: 64)
        }
        return setting
    }

    func run() async throws {
        try await reportingFailures {
            let setting = try Self.parse(mode)
            let (_, store) = try options.openStore()
            do {
                try store.setCapture(guest: name, setting)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            try options.emit(["guest": name, "capture": setting.rawValue], text: "guest \(name): capture \(setting.rawValue)")
        }
    }
}
