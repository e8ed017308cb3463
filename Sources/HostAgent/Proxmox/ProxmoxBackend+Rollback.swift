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
        opID: String, guest: GuestRecord, backupID: String, preRollbackBackup: () async throws -> BackupArtifact
    ) async throws {
        let vmid = try Self.vmid(guest.vmid, guest: guest.name)
        guard let target = try await archive(of: backupID, vmid: vmid) else {
            throw RollbackRefusal("storage \(configuration.storage) lists no archive of backup \(backupID) for CT \(vmid)")
        }
        let escape = try await preRollbackBackup()
        // The last moment a cancel is honoured: past the record the rollback always finishes.
        try Task.checkCancellation()
        let record = ProxmoxOpRecord(
            id: opID, kind: .rollback, guest: guest.name, vmid: vmid, step: .stopping,
            volid: target.volid, escapeVolid: escape.archivePath, wasRunning: try await guestStatus(vmid).isRunning,
            rootfsStorage: try await rootfsStorage(of: vmid))
        try ops.save(record)
        // A task of its own: a cancel that comes now must not stop a restore half way.
        try await Task { try await destructiveSteps(record) }.value
    }

    /// Shutdown, restore, start: run once the record is written, to the end. Every way out leaves
    /// the guest running on either the restored or its old data, or the record for the next start.
    private func destructiveSteps(_ started: ProxmoxOpRecord) async throws {
        var record = started
        let vmid = record.vmid
        guard let volid = record.volid else { return }
        await Failpoint.reach("proxmox.rollback.stopping", logger: logger)
        if record.wasRunning == true {
            let failure: String?
            do {
                failure = try await power(vmid, "shutdown", form: [("timeout", "\(configuration.shutdownTimeoutSeconds)"), ("forceStop", "1")])
            } catch {
                failure = error.message
            }
            if let failure {
                let started = await startAgain(record)
                removeRecord(record)
                throw ProxmoxRollbackError("shutting CT \(vmid) down failed (\(failure)); nothing was restored; \(started)")
            }
        }

        record.step = .restoring
        record.postedAt = Date(timeIntervalSinceNow: -1)
        try ops.save(record)
        await Failpoint.reach("proxmox.rollback.restoring", logger: logger)
        switch try await restore(volid, record: &record) {
        case .restored:
            break
        case .refused(let why):
            let started = await startAgain(record)
            removeRecord(record)
            throw ProxmoxRollbackError("the restore of \(volid) over CT \(vmid) was refused (\(why)); nothing was restored; \(started)")
        case .failed(let why):
            let reverted = await putBack(&record)
            throw ProxmoxRollbackError("restoring \(volid) over CT \(vmid) failed (\(why)); \(reverted)")
        }

        record.step = .starting
        try ops.save(record)
        await Failpoint.reach("proxmox.rollback.starting", logger: logger)
        try await startIfItRan(record)
        removeRecord(record)
    }

    enum RestoreOutcome {
        case restored
        /// The API refused the restore, or it never started: the guest's volumes are untouched.
        case refused(String)
        /// The restore task ran and failed: a forced restore destroys the old volumes first.
        case failed(String)
    }

    /// Restores `volid` over the record's guest, or follows the restore it already started. After a
    /// lost answer its task is looked for before anything is asked again.
    /// - Throws: only when the API cannot say how the restore went; the record then stays for the next start.
    private func restore(_ volid: String, record: inout ProxmoxOpRecord) async throws(ProxmoxError) -> RestoreOutcome {
        let vmid = record.vmid
        if record.upid == nil {
            var form = [("vmid", "\(vmid)"), ("ostemplate", volid), ("restore", "1"), ("force", "1")]
            if let storage = record.rootfsStorage { form.append(("storage", storage)) }
            let postedAt = record.postedAt ?? Date(timeIntervalSinceNow: -1)
            let posted = await post(form)
            switch posted {
            case .success(let upid):
                record.upid = upid
            case .failure(let error) where error.isUnavailable || error.code == .cancelled:
                let found = try await awaitLostTask(type: "vzrestore", vmid: vmid, after: postedAt, naming: volid)
                guard let found else {
                    return .refused("the API did not answer, and no restore task appeared within \(configuration.lostAnswerWaitSeconds) s: \(error.message)")
                }
                record.upid = found
            case .failure(let error):
                return .refused(error.message)
            }
            do {
                try ops.save(record)
            } catch {
                logger.error("recording the restore task failed; following it anyway", metadata: ["vmid": "\(vmid)", "error": "\(error)"])
            }
            await Failpoint.reach("proxmox.rollback.restore-started", logger: logger)
        }
        guard let upid = record.upid else { return .refused("no restore task") }
        let running = task(upid)
        let exit = try await running.follow { _ in }
        guard !TaskStatus.succeeded(exit) else { return .restored }
        return .failed(([exit] + (await running.errorLines())).joined(separator: "; "))
    }

    /// `POST /nodes/{node}/lxc`, its answer or its error as a value.
    private func post(_ form: [(String, String)]) async -> Result<String, ProxmoxError> {
        do throws(ProxmoxError) {
            return .success(try await client.post("/nodes/\(node)/lxc", form: form, as: String.self))
        } catch {
            return .failure(error)
        }
    }

    private func startIfItRan(_ record: ProxmoxOpRecord) async throws {
        guard record.wasRunning == true, !(try await guestStatus(record.vmid).isRunning) else { return }
        if let failure = try await power(record.vmid, "start") {
            throw ProxmoxRollbackError("CT \(record.vmid) did not start: \(failure); start it with `pct start \(record.vmid)`")
        }
    }

    /// Starts the guest again after a rollback that restored nothing; says how that went, for the op's error.
    private func startAgain(_ record: ProxmoxOpRecord) async -> String {
        do {
            try await startIfItRan(record)
            return record.wasRunning == true ? "CT \(record.vmid) runs again" : "CT \(record.vmid) was not running before and stays stopped"
        } catch {
            logger.error("starting the guest again after a failed rollback failed", metadata: ["vmid": "\(record.vmid)", "error": "\(error)"])
            return "starting CT \(record.vmid) again failed too (\(error)); start it with `pct start \(record.vmid)`"
        }
    }

    private func removeRecord(_ record: ProxmoxOpRecord) {
        do {
            try ops.remove(record.id)
        } catch {
            logger.error("removing a finished rollback's record failed; the next start resolves it again", metadata: ["op_id": "\(record.id)", "error": "\(error)"])
        }
    }

    /// After a failed restore: the guest's old volumes may be gone, so it is restored from the
    /// pre-rollback backup, and started if it ran; the step is recorded first, so a crash here is
    /// finished as a put-back, never mistaken for the rollback. Returns what became of the guest.
    private func putBack(_ record: inout ProxmoxOpRecord) async -> String {
        guard let escape = record.escapeVolid else {
            removeRecord(record)
            return "there is no pre-rollback backup to put CT \(record.vmid) back from; restore one by hand"
        }
        record.step = .puttingBack
        record.upid = nil
        record.postedAt = Date(timeIntervalSinceNow: -1)
        do {
            try ops.save(record)
            switch try await restore(escape, record: &record) {
            case .restored:
                try await startIfItRan(record)
                removeRecord(record)
                logger.notice("rollback reverted from the pre-rollback backup", metadata: ["vmid": "\(record.vmid)", "volid": "\(escape)"])
                return "CT \(record.vmid) was put back from the pre-rollback backup \(escape)"
            case .refused(let why), .failed(let why):
                removeRecord(record)
                return "putting CT \(record.vmid) back from \(escape) failed too (\(why)); restore it by hand with `pct restore \(record.vmid) \(escape) --force 1`"
            }
        } catch {
            return "putting CT \(record.vmid) back from \(escape) could not be followed (\(error)); the agent's next start finishes it"
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
            outcome = try await recoverRestore(&record, of: record.volid, reached: .completed)
        case .puttingBack:
            outcome = try await recoverRestore(&record, of: record.escapeVolid, reached: .reverted)
        case .starting:
            try await startIfItRan(record)
            outcome = .completed
        }
        try ops.remove(record.id)
        logger.notice("interrupted rollback resolved", metadata: ["op_id": "\(record.id)", "outcome": "\(outcome.rawValue)", "vmid": "\(record.vmid)"])
        return RecoveredRollback(opID: record.id, outcome: outcome)
    }

    /// Finishes the restore of `volid` a crash interrupted: follows its task, or starts it when it
    /// never began and the old guest is gone. A restore of the rollback's target that fails is put back.
    /// - Throws: when the API cannot say how it stands; the record then stays for the next start.
    private func recoverRestore(_ record: inout ProxmoxOpRecord, of volid: String?, reached: RecoveredRollback.Outcome) async throws -> RecoveredRollback.Outcome {
        guard let volid else { throw ProxmoxRollbackError("the rollback record of CT \(record.vmid) names no archive; restore it by hand") }
        if record.upid == nil, let postedAt = record.postedAt {
            record.upid = try await findTask(type: "vzrestore", vmid: record.vmid, after: postedAt, naming: volid)
        }
        if record.upid == nil, try await guestExists(record.vmid), try await guestStatus(record.vmid).lock == nil {
            // The restore was never asked for, and the old guest is whole.
            try await startIfItRan(record)
            return .untouched
        }
        switch try await restore(volid, record: &record) {
        case .restored:
            try await startIfItRan(record)
            return reached
        case .refused(let why), .failed(let why):
            guard reached == .completed else {
                throw ProxmoxRollbackError("putting CT \(record.vmid) back from \(volid) failed (\(why)); restore it by hand with `pct restore \(record.vmid) \(volid) --force 1`")
            }
            let reverted = await putBack(&record)
            logger.error("an interrupted rollback's restore did not finish", metadata: ["vmid": "\(record.vmid)", "what": "\(reverted)"])
            return .reverted
        }
    }
}

/// A rollback that did not complete, after its destructive steps began: what became of the guest.
struct ProxmoxRollbackError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
