import AgentAPI
import Capture
import CurlHTTP
import DurableFiles
import Foundation
import Logging
import Stacks

/// Whole-guest backups of Proxmox LXC containers: vzdump through the Proxmox API, rollbacks by
/// restoring an archive over the same vmid, and restore tests in scratch containers.
///
/// Tested against `Tests/ProxmoxFake`, a contract fake of the API built from the Proxmox source,
/// not yet on a real Proxmox host; the README says what to check first on one.
public struct ProxmoxBackend: BackupBackend {
    let configuration: ProxmoxConfiguration
    let client: ProxmoxClient
    /// This backend's own durable records: which task each op started, and how far a rollback got.
    let ops: ProxmoxOpFiles
    let pct: PctCommand
    let logger: Logger
    var pollEvery: Duration = .milliseconds(400)

    /// Reads the token file; a file others can read, or one that holds no token, is refused.
    public init(configuration: ProxmoxConfiguration, stateDirectory: String, logger: Logger) throws(AgentStartupError) {
        let path = configuration.tokenFile
        if let (exposed, mode) = PrivateState.isReadableByOthers(path), exposed {
            throw AgentStartupError(.proxmoxToken, path: path, reason: "has mode \(mode), so other users can read the API token; run `chmod 600 \(path)`")
        }
        let token: String
        do {
            token = try String(contentsOfFile: path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        } catch {
            throw AgentStartupError(.proxmoxToken, path: path, reason: "cannot be read (\(error.localizedDescription))")
        }
        let trust: CurlTrust = switch configuration.trust {
        case .pinnedKey(let pin): .pinnedKey(pin)
        case .caFile(let file): .caFile(file)
        }
        do {
            client = try ProxmoxClient(baseURL: configuration.apiURL, token: token, trust: trust)
        } catch {
            throw AgentStartupError(.proxmoxToken, path: path, reason: "does not hold a token: \(error.message)")
        }
        self.configuration = configuration
        self.ops = ProxmoxOpFiles(directory: stateDirectory + "/proxmox")
        self.pct = PctCommand(executable: configuration.pct)
        self.logger = logger
    }

    var node: String { configuration.node }

    /// The guest's container, or a failure that says how to give it one.
    static func vmid(_ vmid: Int?, guest: String) throws(BackupFailure) -> Int {
        guard let vmid else {
            throw BackupFailure(.dataDirectoryMissing, "guest \(guest) has no vmid; the Proxmox backend backs up containers: re-add it with `felhom-agent guest add \(guest) --vmid ID`")
        }
        return vmid
    }

    func task(_ upid: String) -> ProxmoxTask {
        ProxmoxTask(client: client, node: node, upid: upid, every: pollEvery)
    }

    // MARK: Guests

    struct GuestStatus: Decodable, Sendable {
        var status: String
        var name: String?
        var lock: String?
        var isRunning: Bool { status == "running" }
    }

    func guestStatus(_ vmid: Int) async throws(ProxmoxError) -> GuestStatus {
        try await client.get("/nodes/\(node)/lxc/\(vmid)/status/current", as: GuestStatus.self)
    }

    /// Runs a guest task (`start`, `shutdown`, `stop`) to its end; `nil` when it succeeded, else its exit status.
    func power(_ vmid: Int, _ action: String, form: [(String, String)] = []) async throws(ProxmoxError) -> String? {
        try await runTask(try await client.post("/nodes/\(node)/lxc/\(vmid)/status/\(action)", form: form, as: String.self))
    }

    /// Follows the task `upid` that a call started; `nil` when it succeeded, else why not.
    func runTask(_ upid: String) async throws(ProxmoxError) -> String? {
        let running = task(upid)
        let exit = try await running.follow { _ in }
        guard !TaskStatus.succeeded(exit) else { return nil }
        let errors = await running.errorLines()
        return ([exit] + errors).joined(separator: "; ")
    }

    /// The task of ours of `type` for `vmid`, started at or after `after`, whose log names `naming`
    /// (a vzdump's job line carries our notes, a restore's first line its archive): a lost answer
    /// is matched to its own task, never to an earlier one of the same second.
    /// - Throws: when the task list or a log cannot be read: "not found" is never a guess.
    func findTask(type: String, vmid: Int, after: Date, naming: String) async throws(ProxmoxError) -> String? {
        let query = [("source", "all"), ("typefilter", type), ("vmid", "\(vmid)"), ("limit", "200")]
        let tasks = try await client.get("/nodes/\(node)/tasks", query: query, as: [TaskListItem].self)
        let candidates = tasks.compactMap { UPID($0.upid) }
            .filter { $0.user == client.tokenID && $0.id == "\(vmid)" && $0.startTime >= Int(after.timeIntervalSince1970) }
            .sorted { $0.startTime < $1.startTime }
        var waitingForTheLock: String?
        for candidate in candidates {
            let lines = try await task(candidate.text).log(after: 0)
            if lines.prefix(5).contains(where: { $0.t.contains(naming) }) { return candidate.text }
            // A vzdump still waiting for the node's lock has not written its job line yet. With one
            // op per guest at a time, one of ours for this guest since the POST can only be this one.
            if waitingForTheLock == nil, !lines.contains(where: { $0.t.contains("starting new backup job") }),
               lines.contains(where: { $0.t.contains("trying to get global lock") }) {
                waitingForTheLock = candidate.text
            }
        }
        return waitingForTheLock
    }

    /// After a POST whose answer was lost: looks for its task for `proxmox.lost_answer_wait_seconds`,
    /// since pveproxy gives up on a busy pvedaemon after 30 s that may still start the task later.
    func awaitLostTask(type: String, vmid: Int, after: Date, naming: String) async throws(ProxmoxError) -> String? {
        let deadline = ContinuousClock.now + .seconds(configuration.lostAnswerWaitSeconds)
        while true {
            if let found = try await findTask(type: type, vmid: vmid, after: after, naming: naming) { return found }
            guard ContinuousClock.now < deadline, !Task.isCancelled else { return nil }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// Whether the container exists: `false` only when the API says its config does not exist.
    func guestExists(_ vmid: Int) async throws(ProxmoxError) -> Bool {
        do {
            _ = try await guestStatus(vmid)
            return true
        } catch where error.message.contains("does not exist") {
            return false
        }
    }

    /// Where a restore puts the guest's volumes: the configured storage, else the one its rootfs is on now.
    func rootfsStorage(of vmid: Int) async throws(ProxmoxError) -> String? {
        if let configured = configuration.rootfsStorage { return configured }
        let config = try await client.get("/nodes/\(node)/lxc/\(vmid)/config", as: [String: JSONScalar].self)
        guard let rootfs = config["rootfs"]?.text, let colon = rootfs.firstIndex(of: ":") else { return nil }
        return String(rootfs[..<colon])
    }

    /// vzdump tasks on the node, `active` ones or all recent ones.
    func vzdumpTasks(active: Bool, vmid: Int? = nil) async throws(ProxmoxError) -> [TaskListItem] {
        var query = [("source", active ? "active" : "all"), ("typefilter", "vzdump"), ("limit", "200")]
        if let vmid { query.append(("vmid", "\(vmid)")) }
        return try await client.get("/nodes/\(node)/tasks", query: query, as: [TaskListItem].self)
    }

    /// Clears a `backup` lock that no vzdump holds any more: what a SIGKILLed vzdump leaves, and
    /// what keeps every later backup, start and rollback of the guest failing until someone runs
    /// `pct unlock`. A guest that vzdump had stopped is started again.
    /// - Returns: what it did, for the log; `nil` when there was nothing to do.
    func clearStaleBackupLock(_ vmid: Int) async throws(BackupFailure) -> String? {
        let status: GuestStatus
        do {
            status = try await guestStatus(vmid)
        } catch {
            throw BackupFailure(.dataDirectoryMissing, "CT \(vmid) on node \(node): \(error.message)")
        }
        guard let lock = status.lock else { return nil }
        guard lock == "backup" else {
            throw BackupFailure(.guestLocked, "CT \(vmid) is locked (\(lock)) by another Proxmox operation; wait for it to finish, or check `pct config \(vmid)`")
        }
        // A lock is stale only when no vzdump of any guest runs on the node: the research's rule.
        let active: [TaskListItem]
        do {
            active = try await vzdumpTasks(active: true)
        } catch {
            throw BackupFailure(.guestLocked, "CT \(vmid) is locked (backup), and the node's running tasks could not be read: \(error.message)")
        }
        if let running = active.first {
            throw BackupFailure(.guestLocked, "CT \(vmid) is locked (backup) while vzdump task \(running.upid) runs on node \(node); wait for it to finish")
        }
        do {
            try await pct.run(["unlock", "\(vmid)"])
        } catch {
            throw BackupFailure(.guestLocked, "CT \(vmid) has a stale backup lock, and `pct unlock \(vmid)` failed: \(error)")
        }
        var did = "cleared a stale backup lock on CT \(vmid)"
        if !status.isRunning, await lastVzdumpStopped(vmid) {
            let failure: String?
            do {
                failure = try await power(vmid, "start")
            } catch {
                failure = error.message
            }
            if let failure {
                throw BackupFailure(.toolFailed, "CT \(vmid) was unlocked, but starting it again failed: \(failure)")
            }
            did += ", and started it again: the killed vzdump had stopped it"
        }
        logger.notice("stale vzdump lock cleared", metadata: ["vmid": "\(vmid)", "what": "\(did)"])
        return did
    }

    /// Whether the newest vzdump of the guest stopped it (stop mode, someone else's), so a killed
    /// one left it down: then it was running before, and is started again.
    private func lastVzdumpStopped(_ vmid: Int) async -> Bool {
        guard let newest = try? await vzdumpTasks(active: false, vmid: vmid).first,
              let lines = try? await task(newest.upid).log(after: 0) else { return false }
        return lines.contains { $0.t.contains("stopping virtual guest") }
    }

    // MARK: Storage

    struct StorageItem: Decodable, Sendable {
        var volid: String
        var size: Int64?
        var ctime: Int?
        var vmid: FlexibleInt?
        var notes: String?
    }

    /// The notes every backup of ours carries; vzdump expands `{{guestname}}`.
    static func notesTemplate(guest: String, backupID: String) -> String {
        "felhom guest=\(guest) backup_id=\(backupID) ({{guestname}})"
    }

    /// The guest and backup id our notes name, or `nil` for anyone else's backup.
    static func parseNotes(_ notes: String?) -> StoredBackup? {
        guard let notes, notes.hasPrefix("felhom guest=") else { return nil }
        let words = notes.split(separator: " ")
        guard words.count >= 3, words[1].hasPrefix("guest="), words[2].hasPrefix("backup_id=") else { return nil }
        return StoredBackup(guest: String(words[1].dropFirst("guest=".count)), backupID: String(words[2].dropFirst("backup_id=".count)))
    }

    func backupItems(vmid: Int? = nil) async throws(ProxmoxError) -> [StorageItem] {
        var query = [("content", "backup")]
        if let vmid { query.append(("vmid", "\(vmid)")) }
        return try await client.get("/nodes/\(node)/storage/\(configuration.storage)/content", query: query, as: [StorageItem].self)
    }

    func archive(of backupID: String, vmid: Int? = nil) async throws(ProxmoxError) -> StorageItem? {
        try await backupItems(vmid: vmid).first { Self.parseNotes($0.notes)?.backupID == backupID }
    }

    static func artifact(_ item: StorageItem) -> BackupArtifact {
        BackupArtifact(archivePath: item.volid, manifestPath: "", sizeBytes: item.size ?? 0, dataBytes: item.size ?? 0)
    }

    public func discardBackup(guest: String, backupID: String) async throws(BackupFailure) {
        do {
            if let item = try await archive(of: backupID) {
                let path = "/nodes/\(node)/storage/\(configuration.storage)/content/\(ProxmoxClient.segment(item.volid))"
                if let failure = try await runTask(try await client.delete(path, as: String.self)) {
                    throw BackupFailure(.storage, "deleting \(item.volid) failed: \(failure)")
                }
            }
            try ops.remove(backupID)
        } catch let error as ProxmoxError {
            throw BackupFailure(.storage, "deleting the archive of \(backupID): \(error.message)")
        } catch let error as BackupFailure {
            throw error
        } catch {
            throw BackupFailure(.storage, "removing the record of \(backupID): \(error)")
        }
    }

    public func removeLeftovers() async throws(BackupFailure) -> [String] {
        // vzdump removes its own `.dat` and snapshot on its next run; nothing else of ours is partial.
        []
    }

    public func storedBackups() async -> [StoredBackup] {
        guard let items = try? await backupItems() else {
            logger.warning("the Proxmox storage could not be listed; backups the journal does not know are not looked for this time")
            return []
        }
        return items.compactMap { Self.parseNotes($0.notes) }
    }

    public func adoptable(_ stored: StoredBackup) async -> AdoptableBackup? {
        guard let item = try? await archive(of: stored.backupID), let ctime = item.ctime else { return nil }
        return AdoptableBackup(artifact: Self.artifact(item), createdAt: Date(timeIntervalSince1970: TimeInterval(ctime)))
    }

    public func sweepCaptures(guests: [String: String], keeping: Set<String>) async -> CaptureSweep {
        // vzdump makes and removes its own snapshot; a killed one's is removed by its next run.
        CaptureSweep()
    }
}

/// `pct`, for what the API cannot do: clear a lock, run a probe in a container.
struct PctCommand: Sendable {
    let executable: String
    var runner: any CommandRunner = SubprocessCommandRunner()

    /// Runs `pct ARGUMENTS`; a non-zero exit throws with what it printed.
    @discardableResult
    func run(_ arguments: [String], timeout: Duration = .seconds(120)) async throws -> CommandOutput {
        let output = try await runner.run(DockerCommand(executable: executable, arguments: arguments, timeout: timeout))
        guard output.succeeded else {
            throw PctError(arguments: arguments, output: output)
        }
        return output
    }
}

/// A `pct` call that exited non-zero.
struct PctError: Error, CustomStringConvertible {
    var arguments: [String]
    var output: CommandOutput

    var description: String {
        let said = (output.standardError + output.standardOutput).trimmingCharacters(in: .whitespacesAndNewlines)
        return "`pct \(arguments.joined(separator: " "))` exited \(output.exitCode.map(String.init) ?? "by a signal")" + (said.isEmpty ? "" : ": \(said)")
    }
}
