import AgentAPI
import Foundation
import Testing
@testable import HostAgent

@Suite("When a backup is due")
struct BackupScheduleTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func guest(requested: Date? = nil) -> GuestRecord {
        GuestRecord(name: "g", dataDirectory: "/d", intervalSeconds: 3600, tokenSHA256: "x", backupRequestedAt: requested, createdAt: now)
    }

    @Test("a guest never backed up is due")
    func never() {
        let due = BackupSchedule.due(guest: guest(), lastSuccess: nil, now: now)
        #expect(due.due && due.reason == .neverBackedUp && due.nextDueAt == nil && due.lastBackupAt == nil)
    }

    @Test("within the interval it is not due, and says when it will be")
    func notYet() {
        let last = now.addingTimeInterval(-600)
        let due = BackupSchedule.due(guest: guest(), lastSuccess: last, now: now)
        #expect(!due.due && due.reason == nil && due.nextDueAt == last.addingTimeInterval(3600) && due.lastBackupAt == last)
    }

    @Test("after the interval it is due on schedule")
    func schedule() {
        let due = BackupSchedule.due(guest: guest(), lastSuccess: now.addingTimeInterval(-3600), now: now)
        #expect(due.due && due.reason == .schedule)
    }

    @Test("a request makes it due now")
    func requested() {
        let due = BackupSchedule.due(guest: guest(requested: now), lastSuccess: now.addingTimeInterval(-60), now: now)
        #expect(due.due && due.reason == .requested)
    }
}
