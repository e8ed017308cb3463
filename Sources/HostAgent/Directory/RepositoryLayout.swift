/// Where the directory backend keeps a guest's backups: `repository/<guest>/<backup_id>.*`.
public struct RepositoryLayout: Sendable {
    public var root: String

    public init(root: String) {
        self.root = root
    }

    public static let partialSuffix = ".partial"

    public func guestDirectory(_ guest: String) -> String { "\(root)/\(guest)" }
    public func archive(guest: String, backupID: String) -> String { "\(root)/\(guest)/\(backupID).tar.zst" }
    public func partialArchive(guest: String, backupID: String) -> String { archive(guest: guest, backupID: backupID) + Self.partialSuffix }
    public func manifest(guest: String, backupID: String) -> String { "\(root)/\(guest)/\(backupID).manifest.json" }
}
