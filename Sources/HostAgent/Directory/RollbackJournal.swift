import DurableFiles
import Foundation

/// The record, written before the first destructive rename, of a rollback's swap.
///
/// With it, startup knows which of the three trees to keep: a completed swap
/// keeps the restored data, a half-done one puts the original back.
struct RollbackJournal: Codable, Sendable, Equatable {
    var opID: String
    var dataDirectory: String
    var staging: String
    var old: String

    enum CodingKeys: String, CodingKey {
        case opID = "op_id"
        case dataDirectory = "data_dir"
        case staging, old
    }

    static func path(for dataDirectory: String) -> String { dataDirectory + ".felhom-rollback.json" }
    static func stagingPrefix(for dataDirectory: String) -> String { dataDirectory + ".felhom-staging-" }
    static func oldPrefix(for dataDirectory: String) -> String { dataDirectory + ".felhom-old-" }

    init(opID: String, dataDirectory: String) {
        self.opID = opID
        self.dataDirectory = dataDirectory
        staging = Self.stagingPrefix(for: dataDirectory) + opID
        old = Self.oldPrefix(for: dataDirectory) + opID
    }

    func write() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try DurableFile.writeAtomically(Array(try encoder.encode(self)), to: Self.path(for: dataDirectory), mode: 0o600)
    }

    static func read(dataDirectory: String) throws -> RollbackJournal? {
        guard let data = FileManager.default.contents(atPath: path(for: dataDirectory)) else { return nil }
        return try JSONDecoder().decode(RollbackJournal.self, from: data)
    }

    func remove() throws {
        try DurableFile.remove(Self.path(for: dataDirectory))
    }
}
