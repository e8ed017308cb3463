/// Where the directory backend keeps a guest's backups: `repository/<guest>/<backup_id>.*`.
public struct RepositoryLayout: Sendable {
    public var root: String

    public init(root: String) {
        self.root = root
    }

    public static let partialSuffix = ".partial"
    public static let archiveSuffix = ".tar.zst"
    public static let manifestSuffix = ".manifest.json"

    public func guestDirectory(_ guest: String) -> String { "\(root)/\(guest)" }
    public func archive(guest: String, backupID: String) -> String { "\(root)/\(guest)/\(backupID)\(Self.archiveSuffix)" }
    public func partialArchive(guest: String, backupID: String) -> String { archive(guest: guest, backupID: backupID) + Self.partialSuffix }
    public func manifest(guest: String, backupID: String) -> String { "\(root)/\(guest)/\(backupID)\(Self.manifestSuffix)" }
}
