import DurableFiles
import Foundation

/// What the Proxmox backend must remember of one op across a crash: the task it started, and for a
/// rollback, the step it reached. One small file per op, written atomically before each step it names.
struct ProxmoxOpRecord: Codable, Sendable, Equatable {
    enum Kind: String, Codable, Sendable { case backup, rollback, restoreTest = "restore_test" }

    /// A rollback's steps, each recorded before it starts.
    enum RollbackStep: String, Codable, Sendable {
        /// The guest is being shut down; nothing is lost yet.
        case stopping
        /// The restore over the guest runs: from here its old volumes are gone.
        case restoring
        /// The restore finished; the guest is being started.
        case starting
        /// The restore failed; the pre-rollback backup is being restored over the guest.
        case puttingBack = "putting_back"
    }

    var id: String
    var kind: Kind
    var guest: String
    var vmid: Int
    /// When the task-starting POST was sent, to find the task if its answer was lost.
    var postedAt: Date?
    var upid: String?
    var step: RollbackStep?
    /// A rollback's target archive, and the pre-rollback backup's, to put back if the restore fails.
    var volid: String?
    var escapeVolid: String?
    /// Whether the guest ran before the rollback stopped it.
    var wasRunning: Bool?
    /// Where the restore puts the guest's volumes: `proxmox.rootfs_storage`, or where its rootfs was.
    var rootfsStorage: String?
    /// A restore test's scratch container.
    var scratchVMID: Int?
}

/// The op records in `state_dir/proxmox`, mode 0600.
struct ProxmoxOpFiles: Sendable {
    let directory: String

    private func path(_ id: String) -> String { "\(directory)/\(id).json" }

    func save(_ record: ProxmoxOpRecord) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys]
        try DurableFile.writeAtomically(Array(try encoder.encode(record)), to: path(record.id), mode: 0o600)
    }

    func load(_ id: String) -> ProxmoxOpRecord? {
        guard let data = FileManager.default.contents(atPath: path(id)) else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(ProxmoxOpRecord.self, from: data)
    }

    func all() -> [ProxmoxOpRecord] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") }.sorted().compactMap { load(String($0.dropLast(5))) }
    }

    func remove(_ id: String) throws {
        try DurableFile.remove(path(id))
    }

    /// An exclusive `flock` on `directory/NAME.lock`, shared by the agent and its CLI; `nil` while
    /// another process holds it. Closing the descriptor releases it.
    func tryLock(_ name: String) -> Int32? {
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let descriptor = open("\(directory)/\(name).lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { return nil }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            return nil
        }
        return descriptor
    }
}
