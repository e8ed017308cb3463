import DurableFiles
import Foundation

/// The record, written before the first destructive rename, of a rollback's swap.
///
/// With it, startup knows which of the three trees to keep: a completed swap
/// keeps the restored data, a half-done one puts the original back.
struct RollbackJournal: Codable, Sendable, Equatable {
    /// How far the swap got, written durably after each step that the trees on disk cannot tell apart.
    enum Step: String, Codable, Sendable {
        /// Written before the first rename.
        case started
        /// Both renames are done: the restored tree is live. Written before `old` is removed, because
        /// afterwards a live data dir with no `old` looks the same as a swap that never began.
        case swapped
    }

    var opID: String
    var dataDirectory: String
    var staging: String
    var old: String
    /// `nil` in journals written before steps were recorded; read as `started`.
    var step: Step?

    enum CodingKeys: String, CodingKey {
        case opID = "op_id"
        case dataDirectory = "data_dir"
        case staging, old, step
    }

    static func path(for dataDirectory: String) -> String { dataDirectory + ".felhom-rollback.json" }
    static func stagingPrefix(for dataDirectory: String) -> String { dataDirectory + ".felhom-staging-" }
    static func oldPrefix(for dataDirectory: String) -> String { dataDirectory + ".felhom-old-" }

    init(opID: String, dataDirectory: String) {
        self.opID = opID
        self.dataDirectory = dataDirectory
        staging = Self.stagingPrefix(for: dataDirectory) + opID
        old = Self.oldPrefix(for: dataDirectory) + opID
        step = .started
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
