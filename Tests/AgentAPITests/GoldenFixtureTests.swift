import AgentAPI
import Foundation
import Testing

/// The golden files in `Tests/Golden/agent-api`, the single copy both sides test against.
enum Golden {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Golden/agent-api")

    static func data(_ name: String) throws -> Data {
        let text = try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
        return Data(text.trimmingCharacters(in: .newlines).utf8)
    }
}

@Suite("Agent API golden fixtures")
struct GoldenFixtureTests {
    /// Decodes a golden file as `T`, encodes it again, and expects the same bytes.
    func roundTrip<T: Codable & Equatable>(_ type: T.Type, _ file: String) throws -> T {
        let golden = try Golden.data(file)
        let value = try AgentJSON.decoder().decode(T.self, from: golden)
        let encoded = try AgentJSON.encoder().encode(value)
        #expect(String(decoding: encoded, as: UTF8.self) == String(decoding: golden, as: UTF8.self), "\(file)")
        return value
    }

    @Test("backup due round-trips, with absent values as null")
    func backupDue() throws {
        let due = try roundTrip(BackupDue.self, "backup-due.json")
        #expect(due.reason == .schedule)
        let never = try roundTrip(BackupDue.self, "backup-due-never.json")
        #expect(never.lastBackupAt == nil && never.reason == .neverBackedUp)
        let notDue = try roundTrip(BackupDue.self, "backup-due-not-due.json")
        #expect(!notDue.due && notDue.reason == nil)
    }

    @Test("backup start, resumed and status bodies round-trip")
    func backupBodies() throws {
        #expect(try roundTrip(StartBackupRequest.self, "start-backup-request.json").stacks == ["pgapp", "webapp"])
        #expect(try roundTrip(StartBackupResponse.self, "start-backup-response.json").phase == .queued)
        _ = try roundTrip(BackupResumedRequest.self, "backup-resumed-request.json")
        let running = try roundTrip(BackupStatus.self, "backup-status-running.json")
        #expect(running.bytesDone == 1_048_576 && !running.phase.releasesGuest)
        let failed = try roundTrip(BackupStatus.self, "backup-status-failed.json")
        #expect(failed.consistency == .crash && failed.phase.releasesGuest && failed.bytesTotal == nil)
        #expect(try roundTrip(BackupList.self, "backup-list.json").backups == [running, failed])
    }

    @Test("the fast-capture bodies round-trip: prepare's answer, a POST naming it, snapshotted, and a backup without a capture")
    func captureBodies() throws {
        #expect(try roundTrip(StartBackupRequest.self, "start-backup-request-prepared.json").prepareID == "b-20261125T020000Z-7f3a")
        #expect(try roundTrip(StartBackupResponse.self, "prepare-backup-response.json").phase == .preparing)
        let snapshotted = try roundTrip(BackupStatus.self, "backup-status-snapshotted.json")
        #expect(snapshotted.phase.releasesGuest && snapshotted.captureMethod == .copy && snapshotted.captureWindowMs == 412)
        let plain = try roundTrip(BackupStatus.self, "backup-status-done-no-capture.json")
        #expect(plain.captureMethod == BackupCaptureMethod.none && plain.captureReason?.contains("no_space") == true)
        #expect(!BackupPhase.preparing.releasesGuest && !BackupPhase.ready.releasesGuest)
    }

    @Test("rollback bodies round-trip")
    func rollbackBodies() throws {
        #expect(try roundTrip(RollbackRequest.self, "rollback-request.json").backupID.hasPrefix("b-"))
        #expect(try roundTrip(RollbackStarted.self, "rollback-started.json").opID.hasPrefix("r-"))
        #expect(try roundTrip(RollbackPreflight.self, "rollback-preflight.json").dataBytes == 1_048_576)
        #expect(try roundTrip(RollbackStatus.self, "rollback-status.json").phase == .running)
        #expect(try roundTrip(RestoreTestStatus.self, "restore-test-status.json").checks.count == 3)
    }

    @Test("the error body round-trips")
    func errorBody() throws {
        #expect(try roundTrip(AgentErrorBody.self, "error-not-found.json").error.code == "not_found")
    }

    @Test("a wrong type is rejected, not coerced")
    func wrongType() {
        #expect(throws: DecodingError.self) {
            try AgentJSON.decoder().decode(StartBackupRequest.self, from: Data(#"{"quiesced":"yes","stacks":[]}"#.utf8))
        }
    }
}
