import AgentAPI
import Foundation

/// Whether a guest's backup is due: pure, so every case is tested without a clock.
public enum BackupSchedule {
    /// A guest without a successful backup is due; a requested backup is due now;
    /// otherwise the backup is due one interval after the last successful one started.
    public static func due(guest: GuestRecord, lastSuccess: Date?, now: Date) -> BackupDue {
        guard let lastSuccess else {
            return BackupDue(due: true, reason: .neverBackedUp, nextDueAt: nil, lastBackupAt: nil)
        }
        let next = lastSuccess.addingTimeInterval(TimeInterval(guest.intervalSeconds))
        if guest.backupRequestedAt != nil {
            return BackupDue(due: true, reason: .requested, nextDueAt: next, lastBackupAt: lastSuccess)
        }
        if next <= now {
            return BackupDue(due: true, reason: .schedule, nextDueAt: next, lastBackupAt: lastSuccess)
        }
        return BackupDue(due: false, reason: nil, nextDueAt: next, lastBackupAt: lastSuccess)
    }
}
