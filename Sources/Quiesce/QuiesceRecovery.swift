import AgentAPI
import Foundation
import Logging

extension QuiesceCycle {
    /// `Recover()`: if a marker survived a crash, finish its cycle through the same machine a live
    /// cycle uses: tell the agent if the backup had not captured the stacks, wait while a rollback
    /// op may still swap the data dir, restart exactly the marker's stacks, record, clear.
    ///
    /// Returns the record, or `nil` when there was no marker to recover.
    /// - Parameter force: restart without waiting for the agent's rollback op; the operator's escape
    ///   when the agent is gone for good. The apps may then start on a data dir the agent later swaps.
    /// Marks a crashed cycle's stacks as held, without finishing the cycle: for `run`, whose loop
    /// recovers first while the customer API already answers, and must refuse to touch those stacks.
    /// - Returns: whether a marker from a dead controller was found.
    public func holdPendingMarker() throws(QuiesceError) -> Bool {
        guard let found = try marker.read(), !MarkerFile.isOwnedByLiveController(found) else { return false }
        state.begin(found)
        return true
    }

    public func recover(force: Bool = false) async throws(QuiesceError) -> CycleRecord? {
        // A cycle running in this process owns the marker; so does one in another live controller.
        guard state.reserve() else { return nil }
        defer { state.release() }
        guard var found = try marker.read() else { return nil }
        if MarkerFile.isOwnedByLiveController(found) {
            guard force else {
                logger.notice("the marker belongs to a running controller; leaving its cycle alone", metadata: ["pid": "\(found.ownerPID ?? 0)"])
                return nil
            }
            // The operator's escape: the running controller sees the marker is no longer its own and lets go.
            logger.warning("--force: taking the cycle over from a running controller", metadata: ["pid": "\(found.ownerPID ?? 0)"])
        }
        // Ours now, so a second recovery leaves it alone while this one waits for the agent.
        MarkerFile.claim(&found)
        do {
            try marker.write(found)
        } catch {
            logger.error("could not take the marker over; recovering anyway", metadata: ["error": "\(error)"])
        }
        logger.notice("marker found at startup; finishing its cycle", metadata: [
            "cycle": "\(found.cycleID)", "stacks": "\(found.stacks.joined(separator: ","))", "backup_id": "\(found.backupID ?? "")",
            "rollback_op_id": "\(found.rollbackOpID ?? "")", "force": "\(force)",
        ])
        let record = await drive(.recovering(found, force: force), startedAt: found.startedAt, shutdown: ShutdownFlag(clock: clock))
        if record.outcome == .recovered {
            logger.notice("recovered", metadata: ["cycle": "\(found.cycleID)", "restarted": "\(found.stacks.joined(separator: ","))"])
        }
        return record
    }
}
