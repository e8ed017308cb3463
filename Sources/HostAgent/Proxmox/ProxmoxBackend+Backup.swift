import AgentAPI
import Foundation
import Logging

/// Backups: one vzdump task per backup, followed by its UPID, `snapshotted` as soon as its log
/// shows the storage snapshot (or the suspend-mode resume), and its archive found by our notes.
extension ProxmoxBackend {
    /// vzdump needs nothing made ahead; prepare checks the guest and clears a stale lock while the
    /// apps still run, so a backup that cannot start costs no downtime.
    struct VzdumpCapture: PreparedCapture {
        var method: BackupCaptureMethod
        var note: String?
        func discard() async throws(BackupFailure) {}
    }

    public func prepareCapture(_ job: BackupJob, isCancelled: @escaping @Sendable () -> Bool) async throws(BackupFailure) -> (any PreparedCapture)? {
        let vmid = try Self.vmid(job.vmid, guest: job.guest)
        _ = try await clearStaleBackupLock(vmid)
        return switch configuration.mode {
        case .snapshot: VzdumpCapture(method: .snapshot, note: "vzdump snapshot mode: the window ends when the storage snapshot exists")
        case .suspend: VzdumpCapture(method: .copy, note: "vzdump suspend mode: the window ends when the guest resumes after the final sync")
        }
    }

    public func createBackup(
        _ job: BackupJob, capture: (any PreparedCapture)?, events: @escaping @Sendable (BackupEvent) -> Void
    ) async throws(BackupFailure) -> BackupArtifact {
        let vmid = try Self.vmid(job.vmid, guest: job.guest)
        if capture == nil { _ = try await clearStaleBackupLock(vmid) }
        var record = ProxmoxOpRecord(id: job.backupID, kind: .backup, guest: job.guest, vmid: vmid)
        let started = ContinuousClock.now
        let upid = try await startVzdump(job, vmid: vmid, record: &record)
        await Failpoint.reach("proxmox.vzdump-started", logger: logger)
        return try await finishVzdump(backupID: job.backupID, vmid: vmid, upid: upid, windowStarted: started, events: events)
    }

    /// POSTs the vzdump, and after an answer that was lost, looks for the task it may have started
    /// before asking again: a second vzdump of the same guest is never started for one backup,
    /// unless the API starts the first one more than `proxmox.lost_answer_wait_seconds` late.
    private func startVzdump(_ job: BackupJob, vmid: Int, record: inout ProxmoxOpRecord) async throws(BackupFailure) -> String {
        let form = [
            ("vmid", "\(vmid)"), ("mode", configuration.mode.rawValue), ("storage", configuration.storage),
            ("compress", "zstd"), ("remove", "0"), ("notes-template", Self.notesTemplate(guest: job.guest, backupID: job.backupID)),
        ]
        // A second early, so a task whose start the API stamps with a truncated second is still ours;
        // kept across retries, so a late start of the first POST's task is found too.
        record.postedAt = Date(timeIntervalSinceNow: -1)
        try save(record)
        var lastError = ""
        for attempt in 1...3 {
            let answer: String
            do throws(ProxmoxError) {
                answer = try await client.post("/nodes/\(node)/vzdump", form: form, as: String.self)
            } catch where error.isUnavailable || error.code == .cancelled {
                lastError = error.message
                logger.warning("the answer to POST vzdump was lost; looking for the task before asking again", metadata: [
                    "backup_id": "\(job.backupID)", "attempt": "\(attempt)", "error": "\(error.message)",
                ])
                let found: String?
                do throws(ProxmoxError) {
                    found = try await awaitLostTask(type: "vzdump", vmid: vmid, after: record.postedAt!, naming: "backup_id=\(job.backupID)")
                } catch {
                    throw BackupFailure(.toolFailed, "the answer to POST vzdump was lost, and the node's tasks cannot be read to look for it (\(error.message)); no second vzdump is started blind")
                }
                if let found {
                    record.upid = found
                    try save(record)
                    return found
                }
                if Task.isCancelled { throw BackupFailure(.cancelled, "the agent stopped before vzdump started") }
                continue
            } catch {
                throw BackupFailure(error.code == .forbidden ? .storage : .toolFailed, "starting vzdump of CT \(vmid): \(error.message)")
            }
            guard UPID(answer) != nil else {
                // `{"data":"OK"}`: vzdump ran nowhere, as it does for a guest on another node.
                throw BackupFailure(.toolFailed, "vzdump started no task for CT \(vmid) (the API answered \"\(answer)\"): the container is not on node \(node); set proxmox.node to the node that holds it")
            }
            record.upid = answer
            try save(record)
            return answer
        }
        throw BackupFailure(.toolFailed, "the Proxmox API did not answer POST vzdump for CT \(vmid) 3 times, and no task of it appeared: \(lastError)")
    }

    /// The vzdump task this record's POST started, if the node lists one: its job line names our
    /// backup id (in the notes template), which no other task's does.
    func findTask(of record: ProxmoxOpRecord) async throws(ProxmoxError) -> String? {
        guard let postedAt = record.postedAt else { return nil }
        return try await findTask(type: "vzdump", vmid: record.vmid, after: postedAt, naming: "backup_id=\(record.id)")
    }

    /// Follows the task to its end: `snapshotted` at the first log line written after the guest's
    /// state is captured, then the archive found by its notes.
    func finishVzdump(
        backupID: String, vmid: Int, upid: String, windowStarted: ContinuousClock.Instant,
        events: @escaping @Sendable (BackupEvent) -> Void
    ) async throws(BackupFailure) -> BackupArtifact {
        let metadata: Logger.Metadata = ["backup_id": "\(backupID)", "vmid": "\(vmid)", "upid": "\(upid)"]
        var snapshotted = false
        let running = task(upid)
        let exit: String
        do throws(ProxmoxError) {
            exit = try await running.follow { line in
                let text = line.hasPrefix("INFO: ") ? String(line.dropFirst(6)) : line
                if text.hasPrefix("trying to get global lock") {
                    logger.info("vzdump waits for the node's vzdump lock: another backup runs on the node", metadata: metadata)
                    events(.waiting("the vzdump lock of node \(node): another backup runs there"))
                } else if text.hasPrefix("got global lock") {
                    events(.waiting(nil))
                }
                if !snapshotted, Self.isCaptured(text) {
                    snapshotted = true
                    let elapsed = windowStarted.duration(to: .now)
                    events(.snapshotted(windowMs: BackupCoordinator.milliseconds(elapsed)))
                }
            }
        } catch {
            if error.code == .cancelled || Task.isCancelled {
                // The task goes on without us: stopping it could leave the guest locked or frozen.
                // The record names it, so the next start follows it to its end.
                throw BackupFailure(.detached, "the agent stopped while vzdump task \(upid) ran; the next start follows it")
            }
            throw BackupFailure(.toolFailed, "following vzdump task \(upid): \(error.message)")
        }
        guard TaskStatus.succeeded(exit) else {
            let errors = await running.errorLines()
            let cleanup = await cleanUpFailedVzdump(vmid: vmid, backupID: backupID)
            try? ops.remove(backupID)
            let reason = "vzdump of CT \(vmid) failed: \(exit)" + (errors.isEmpty ? "" : " (\(errors.joined(separator: "; ")))")
                + (cleanup.isEmpty ? "" : "; cleanup: \(cleanup.joined(separator: "; "))")
            let full = errors.contains { $0.contains("No space left") } || exit.contains("No space left")
            throw BackupFailure(full ? .diskFull : .toolFailed, reason)
        }
        do {
            guard let item = try await archive(of: backupID, vmid: vmid) else {
                throw BackupFailure(.storage, "vzdump task \(upid) ended \(exit), but storage \(configuration.storage) lists no archive whose notes name \(backupID); the notes may not have been written (the task log says)")
            }
            try? ops.remove(backupID)
            logger.info("vzdump finished", metadata: metadata.merging(["volid": "\(item.volid)", "exit": "\(exit)"]) { $1 })
            return Self.artifact(item)
        } catch let error as ProxmoxError {
            throw BackupFailure(.storage, "listing storage \(configuration.storage) after vzdump: \(error.message)")
        } catch let error as BackupFailure {
            throw error
        } catch {
            throw BackupFailure(.storage, "\(error)")
        }
    }

    /// The first line vzdump writes once the guest's state is captured: the archive starts after
    /// the storage snapshot (snapshot mode), or the guest is back after the final sync (suspend mode,
    /// and snapshot mode with several volumes, which suspends the guest for the snapshots).
    static func isCaptured(_ text: String) -> Bool {
        (text.hasPrefix("creating ") && text.contains("archive")) || text.hasPrefix("guest is online again after")
    }

    /// What a failed or killed vzdump leaves, removed: its stale `backup` lock (when no vzdump runs),
    /// its `vzdump` snapshot, and an archive with our notes. Returns what it did.
    func cleanUpFailedVzdump(vmid: Int, backupID: String) async -> [String] {
        var done: [String] = []
        do {
            if let cleared = try await clearStaleBackupLock(vmid) { done.append(cleared) }
        } catch {
            done.append("\(error.message)")
        }
        struct Snapshot: Decodable { var name: String }
        if let snapshots = try? await client.get("/nodes/\(node)/lxc/\(vmid)/snapshot", as: [Snapshot].self),
           snapshots.contains(where: { $0.name == "vzdump" }) {
            let path = "/nodes/\(node)/lxc/\(vmid)/snapshot/vzdump"
            do {
                if let failure = try await runTask(try await client.delete(path, query: [("force", "1")], as: String.self)) {
                    done.append("removing the vzdump snapshot failed: \(failure)")
                } else {
                    done.append("removed the vzdump snapshot")
                }
            } catch {
                done.append("removing the vzdump snapshot failed: \(error.message)")
            }
        }
        if (try? await archive(of: backupID, vmid: vmid)) != nil {
            do {
                try await discardBackup(guest: "", backupID: backupID)
                done.append("removed the archive")
            } catch {
                done.append("removing the archive failed: \(error.message)")
            }
        }
        return done
    }

    public func interruptedBackup(_ op: OpRecord) async -> InterruptedBackupDecision {
        guard let record = ops.load(op.id) else { return .fail("agent restarted before vzdump was asked for") }
        var upid = record.upid
        if upid == nil {
            do {
                upid = try await findTask(of: record)
            } catch {
                // The API cannot say now: following it again resolves it once it answers.
                return .stillRunning
            }
        }
        guard let upid else {
            try? ops.remove(op.id)
            return .fail("agent restarted while asking for vzdump; no task of it was started")
        }
        guard let status = try? await task(upid).status() else { return .stillRunning }
        if status.isRunning { return .stillRunning }
        let exit = status.exitstatus ?? "unexpected status"
        if TaskStatus.succeeded(exit) {
            // Only a listing that answered decides: a finished backup is never discarded for an outage.
            guard let listed = try? await archive(of: op.id, vmid: record.vmid) else { return .stillRunning }
            try? ops.remove(op.id)
            return .finished(Self.artifact(listed))
        }
        let cleanup = await cleanUpFailedVzdump(vmid: record.vmid, backupID: op.id)
        try? ops.remove(op.id)
        return .fail("vzdump task \(upid) ended \(exit) while the agent was down" + (cleanup.isEmpty ? "" : "; cleanup: \(cleanup.joined(separator: "; "))"))
    }

    public func resumeBackup(_ op: OpRecord, events: @escaping @Sendable (BackupEvent) -> Void) async throws(BackupFailure) -> BackupArtifact {
        guard var record = ops.load(op.id) else {
            throw BackupFailure(.toolFailed, "no record of the vzdump task of \(op.id) is left")
        }
        if record.upid == nil {
            do {
                record.upid = try await findTask(of: record)
            } catch {
                throw BackupFailure(.toolFailed, "the vzdump task of \(op.id) cannot be looked for: \(error.message)")
            }
            try save(record)
        }
        guard let upid = record.upid else {
            throw BackupFailure(.toolFailed, "the vzdump task of \(op.id) cannot be found on node \(node)")
        }
        return try await finishVzdump(backupID: op.id, vmid: record.vmid, upid: upid, windowStarted: .now, events: events)
    }

    func save(_ record: ProxmoxOpRecord) throws(BackupFailure) {
        do {
            try ops.save(record)
        } catch {
            throw BackupFailure(.storage, "recording the op \(record.id) in \(ops.directory): \(error)")
        }
    }
}
