import ArgumentParser
import CommandLineSupport
import Foundation
import HostAgent

/// `felhom-agent restore BACKUP_ID --to DIR`: an operator's copy of a backup, verified.
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Extract a backup into an empty directory and verify it against its manifest.",
        discussion: "--json prints {\"backup_id\", \"guest\", \"to\", \"files\", \"bytes\"}. A non-empty DIR is refused."
    )

    @OptionGroup var options: AgentOptions
    @Argument(help: "The backup to restore.")
    var backupID: String
    @Option(name: .customLong("to"), help: "An empty or new directory.")
    var destination: String

    struct Output: Encodable {
        var backupID: String
        var guest: String
        var to: String
        var files: Int
        var bytes: Int64

        enum CodingKeys: String, CodingKey {
            case guest, to, files, bytes
            case backupID = "backup_id"
        }
    }

    func run() async throws {
        try await reportingFailures {
            let (configuration, store) = try options.openStore()
            guard let entry = try store.backup(backupID), entry.op.state == .succeeded else {
                throw CommandFailure(message: "no finished backup \(backupID); `felhom-agent backups` lists them")
            }
            let destination = URL(fileURLWithPath: destination).standardizedFileURL.path
            let restorer = ArchiveRestorer(layout: RepositoryLayout(root: configuration.repository))
            let manifest: BackupManifest
            do {
                manifest = try await restorer.restore(guest: entry.guest, backupID: backupID, to: destination)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            try options.emit(
                Output(backupID: backupID, guest: entry.guest, to: destination, files: manifest.totalFiles, bytes: manifest.totalBytes),
                text: "restored \(backupID) of \(entry.guest) into \(destination): \(manifest.totalFiles) files, \(manifest.totalBytes) bytes, every checksum verified")
        }
    }
}
