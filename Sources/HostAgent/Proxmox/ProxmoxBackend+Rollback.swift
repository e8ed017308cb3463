import AgentAPI
import Foundation
import Logging

/// Rollback of a whole guest: a pre-rollback vzdump, a shutdown, a restore of the archive over the
/// same vmid, and a start. Each step is recorded before it begins, so the startup sweep finishes a
/// rollback that got past the restore, and puts the guest back from the pre-rollback backup when
/// the restore failed half way (a forced restore destroys the old volumes first).
///
/// The controller lives inside the guest, so it is shut down with it; the agent drives every step.
extension ProxmoxBackend {
    public func rollbackPreflight(guest: GuestRecord, backupID: String) async throws(RollbackRefusal) -> RollbackPreflight {
        do {
            let vmid = try Self.vmid(guest.vmid, guest: guest.name)
            guard let item = try await archive(of: backupID, vmid: vmid) else {
                throw RollbackRefusal("storage \(configuration.storage) lists no archive of backup \(backupID) for CT \(vmid)")
            }
            let status = try await guestStatus(vmid)
            if let lock = status.lock {
                throw RollbackRefusal("CT \(vmid) is locked (\(lock)); wait for that operation to finish")
            }
            return RollbackPreflight(backupID: backupID, dataBytes: item.size ?? 0)
        } catch let refusal as RollbackRefusal {
            throw refusal
        } catch let failure as BackupFailure {
            throw RollbackRefusal(failure.message)
        } catch let error as ProxmoxError {
            throw RollbackRefusal("CT of guest \(guest.name): \(error.message)")
        } catch {
            throw RollbackRefusal("\(error)")
        }
    }

    public func rollback(
        opID: String, guest: GuestRecord, backupID: String, preRollbackBackup: () async throws -> Void
    ) async throws {
        let vmid = try Self.vmid(guest.vmid, guest: guest.name)
        let startedAt = Date(timeIntervalSinceNow: -1)
        guard let target = try await archive(of: backupID, vmid: vmid) else {
            throw RollbackRefusal("storage \(configuration.storage) lists no archive of backup \(backupID) for CT \(vmid)")
        }
        try await preRollbackBackup()
        // The last moment a cancel is honoured: past the record the rollback always finishes.
        try Task.checkCancellation()
        let escape = try await backupItems(vmid: vmid)
            .filter { Self.parseNotes($0.notes)?.guest == guest.name && ($0.ctime ?? 0) >= Int(startedAt.timeIntervalSince1970) }
            .max { ($0.ctime ?? 0) < ($1.ctime ?? 0) }
        let wasRunning = try await guestStatus(vmid).isRunning
        let record = ProxmoxOpRecord(
            id: opID, kind: .rollback, guest: guest.name, vmid: vmid, step: .stopping,
            volid: target.volid, escapeVolid: escape?.volid, wasRunning: wasRunning)
        try ops.save(record)
        // A task of its own: a cancel that comes now must not stop a restore half way.
        try await Task { try await destructiveSteps(record) }.value
    }

    /// Shutdown, restore, start: run once the record is written, to the end.
    private func destructiveSteps(_ started: ProxmoxOpRecord) async throws {
        var record = started
        let vmid = record.vmid, opID = record.id, wasRunning = record.wasRunning == true
        guard let volid = record.volid else { return }
        await Failpoint.reach("proxmox.rollback.stopping", logger: logger)
        if wasRunning, let failure = try await power(vmid, "shutdown", form: [
            ("timeout", "\(configuration.shutdownTimeoutSeconds)"), ("forceStop", "1"),
        ]) {
            try? await power(vmid, "start")
            try? ops.remove(opID)
            throw RollbackRefusal("shutting CT \(vmid) down failed (\(failure)); nothing was restored")
        }

        record.step = .restoring
        record.postedAt = Date(timeIntervalSinceNow: -1)
        try ops.save(record)
        await Failpoint.reach("proxmox.rollback.restoring", logger: logger)
        if let failure = try await restore(vmid: vmid, volid: volid, record: &record) {
            let reverted = await putBack(record)
            try? ops.remove(opID)
            throw RollbackRefusal("restoring \(volid) over CT \(vmid) failed (\(failure)); \(reverted)")
        }

        record.step = .starting
        try ops.save(record)
        await Failpoint.reach("proxmox.rollback.starting", logger: logger)
        try await startIfItRan(record)
        try ops.remove(opID)
    }

    /// Restores `volid` over `vmid` and follows the task; `nil` when it succeeded, else why not.
    /// After a lost answer the vzrestore task is looked for before anything is asked again.
    private func restore(vmid: Int, volid: String, record: inout ProxmoxOpRecord) async throws -> String? {
        var form = [("vmid", "\(vmid)"), ("ostemplate", volid), ("restore", "1"), ("force", "1")]
        if let storage = configuration.rootfsStorage { form.append(("storage", storage)) }
        if record.upid == nil {
            let posted: Result<String, ProxmoxError> = await {
                do throws(ProxmoxError) {
                    return .success(try await client.post("/nodes/\(node)/lxc", form: form, as: String.self))
                } catch {
                    return .failure(error)
                }
            }()
            switch posted {
            case .success(let upid):
                record.upid = upid
            case .failure(let error) where error.isUnavailable:
                guard let found = await findTask(type: "vzrestore", vmid: vmid, after: record.postedAt) else {
                    return "the API did not answer the restore, and no restore task was started: \(error.message)"
                }
                record.upid = found
            case .failure(let error):
                throw error
            }
            try ops.save(record)
            await Failpoint.reach("proxmox.rollback.restore-started", logger: logger)
        }
        guard let upid = record.upid else { return "no restore task" }
        let running = task(upid)
        let exit = try await running.follow { _ in }
        guard !TaskStatus.succeeded(exit) else { return nil }
        return ([exit] + (await running.errorLines())).joined(separator: "; ")
    }

    /// A task of ours of `type` for `vmid` that started at or after `after`.
    func findTask(type: String, vmid: Int, after: Date?) async -> String? {
        guard let after else { return nil }
        let query = [("source", "all"), ("typefilter", type), ("vmid", "\(vmid)"), ("limit", "200")]
        guard let tasks = try? await client.get("/nodes/\(node)/tasks", query: query, as: [TaskListItem].self) else { return nil }
        return tasks.compactMap { UPID($0.upid) }
            .filter { $0.user == client.tokenID && $0.id == "\(vmid)" && $0.startTime >= Int(after.timeIntervalSince1970) }
            .min { $0.startTime < $1.startTime }?.text
    }

    private func startIfItRan(_ record: ProxmoxOpRecord) async throws {
        guard record.wasRunning == true, !(try await guestStatus(record.vmid).isRunning) else { return }
        if let failure = try await power(record.vmid, "start") {
            throw RollbackRefusal("CT \(record.vmid) was restored, but did not start: \(failure); start it with `pct start \(record.vmid)`")
        }
    }

    /// After a failed restore: the guest's old volumes may be gone, so it is restored from the
    /// pre-rollback backup, and started if it ran. Returns what became of it, for the op's error.
    private func putBack(_ record: ProxmoxOpRecord) async -> String {
        guard let escape = record.escapeVolid else {
            return "there is no pre-rollback backup to put CT \(record.vmid) back from; restore one by hand"
        }
        var again = record
        again.upid = nil
        again.postedAt = Date(timeIntervalSinceNow: -1)
        do {
            if let failure = try await restore(vmid: record.vmid, volid: escape, record: &again) {
                return "putting CT \(record.vmid) back from \(escape) failed too (\(failure)); restore it by hand"
            }
            try await startIfItRan(record)
            logger.notice("rollback reverted from the pre-rollback backup", metadata: ["vmid": "\(record.vmid)", "volid": "\(escape)"])
            return "CT \(record.vmid) was put back from the pre-rollback backup \(escape)"
        } catch {
            return "putting CT \(record.vmid) back from \(escape) failed too (\(error)); restore it by hand"
        }
    }

    public func recoverRollback(guest: GuestRecord) async throws -> RecoveredRollback? {
        guard var record = ops.all().first(where: { $0.kind == .rollback && $0.guest == guest.name }) else { return nil }
        let outcome: RecoveredRollback.Outcome
        switch record.step {
        case .stopping, nil:
            // Nothing was restored: the guest is only started again if the shutdown had begun.
            try await startIfItRan(record)
            outcome = .untouched
        case .restoring:
            if record.upid == nil {
                record.upid = await findTask(type: "vzrestore", vmid: record.vmid, after: record.postedAt)
            }
            let guestIsWhole = (try? await guestStatus(record.vmid)) != nil
            if record.upid == nil, guestIsWhole {
                // The restore was never asked for, and the old guest is whole.
                try await startIfItRan(record)
                outcome = .untouched
            } else {
                var failure: String? = "no target archive was recorded"
                if let target = record.volid {
                    failure = try await restore(vmid: record.vmid, volid: target, record: &record)
                }
                if failure == nil {
                    try await startIfItRan(record)
                    outcome = .completed
                } else {
                    let reverted = await putBack(record)
                    logger.error("an interrupted rollback's restore did not finish", metadata: ["vmid": "\(record.vmid)", "what": "\(reverted)"])
                    outcome = .reverted
                }
            }
        case .starting:
            try await startIfItRan(record)
            outcome = .completed
        }
        try ops.remove(record.id)
        logger.notice("interrupted rollback resolved", metadata: ["op_id": "\(record.id)", "outcome": "\(outcome.rawValue)", "vmid": "\(record.vmid)"])
        return RecoveredRollback(opID: record.id, outcome: outcome)
    }
}
