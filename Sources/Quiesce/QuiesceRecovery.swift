import AgentAPI
import Foundation
import Logging

extension QuiesceCycle {
    /// `Recover()`: if a marker survived a crash, restart exactly its stacks, tell the agent
    /// if the backup had not captured them, record the cycle, and clear the marker.
    ///
    /// Returns the record, or `nil` when there was no marker. It retries restarts until
    /// every stack is up; a stack stopped before the cycle is not in the marker and stays down.
    public func recover() async throws(QuiesceError) -> CycleRecord? {
        // A cycle running in this process owns the marker; so does one in another live controller.
        guard state.reserve() else { return nil }
        defer { state.release() }
        guard let found = try marker.read() else { return nil }
        if MarkerFile.isOwnedByLiveController(found) {
            logger.notice("the marker belongs to a running controller; leaving its cycle alone", metadata: ["pid": "\(found.ownerPID ?? 0)"])
            return nil
        }
        let metadata: Logger.Metadata = ["cycle": "\(found.cycleID)"]
        logger.notice("marker found at startup; restarting its stacks", metadata: metadata.merging([
            "stacks": "\(found.stacks.joined(separator: ","))", "backup_id": "\(found.backupID ?? "")",
        ]) { $1 })
        state.begin(found)

        var phase: BackupPhase?
        var consistency: BackupConsistency?
        if found.kind != .rollback, let backupID = found.backupID {
            phase = try? await agent.backupStatus(backupID: backupID).phase
            consistency = await reportResumption(backupID: backupID, phase: phase, metadata: metadata)
        }
        // A compose stop the dead controller started may still be running; it must not land after our start.
        await control.waitForOrphanedOperations(found.stacks)
        let restarter = StackRestarter(control: control, settings: settings, logger: logger)
        // Run apart from the caller's task so a shutdown during recovery does not strand the stacks.
        // A marker from before `partial_before` existed: accept partial, as that version did.
        let partial = Set(found.partialBefore ?? found.stacks)
        _ = await Task { await restarter.restart(found.stacks, partialBefore: partial) }.value
        try marker.clear()
        state.end()

        let record = CycleRecord(
            id: found.cycleID, kind: found.kind ?? .backup, startedAt: found.startedAt, finishedAt: Date(), stacks: found.stacks,
            backupID: found.backupID, phaseReached: phase, consistency: consistency, outcome: .recovered,
            error: "the controller stopped during this cycle; its stacks were restarted at the next start",
            downtimeMs: [:])
        do {
            try records.save(record)
        } catch {
            logger.error("saving the recovered cycle's record failed", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
        logger.notice("recovered", metadata: metadata.merging(["restarted": "\(found.stacks.joined(separator: ","))"]) { $1 })
        return record
    }
}
