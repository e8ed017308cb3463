import AgentAPI
import Foundation
import Testing
@testable import HostAgent

/// The agent's side of the golden fixtures: what it sends is byte for byte what the contract shows.
@Suite("Agent responses match the golden fixtures")
struct AgentGoldenTests {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Golden/agent-api")

    static func golden(_ name: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8).trimmingCharacters(in: .newlines)
    }

    /// Decodes a golden file as `T`, sends it through the agent's response path, and expects the same bytes.
    func roundTrip<T: Codable>(_ type: T.Type, _ file: String) throws {
        let golden = try Self.golden(file)
        let value = try AgentJSON.decoder().decode(T.self, from: Data(golden.utf8))
        let body = try #require(JSONResponse.body(value))
        #expect(String(decoding: body, as: UTF8.self) == golden, "\(file)")
    }

    @Test("every response body the agent sends round-trips")
    func responses() throws {
        try roundTrip(BackupDue.self, "backup-due.json")
        try roundTrip(BackupDue.self, "backup-due-never.json")
        try roundTrip(BackupDue.self, "backup-due-not-due.json")
        try roundTrip(StartBackupResponse.self, "start-backup-response.json")
        try roundTrip(BackupStatus.self, "backup-status-running.json")
        try roundTrip(BackupStatus.self, "backup-status-failed.json")
        try roundTrip(BackupStatus.self, "backup-status-snapshotted.json")
        try roundTrip(BackupStatus.self, "backup-status-done-no-capture.json")
        try roundTrip(StartBackupResponse.self, "prepare-backup-response.json")
        try roundTrip(BackupList.self, "backup-list.json")
        try roundTrip(AgentErrorBody.self, "error-not-found.json")
        try roundTrip(RollbackStarted.self, "rollback-started.json")
        try roundTrip(RollbackStatus.self, "rollback-status.json")
        try roundTrip(RestoreTestStatus.self, "restore-test-status.json")
    }

    @Test("a journal entry reports itself as the contract's status")
    func statusFromEntry() throws {
        let expected = try AgentJSON.decoder().decode(BackupStatus.self, from: Data(Self.golden("backup-status-running.json").utf8))
        let op = OpRecord(
            id: expected.backupID, kind: .backup, guest: "g", idempotencyKey: "k", state: .running, error: nil,
            createdAt: expected.startedAt, updatedAt: expected.startedAt, finishedAt: nil)
        let backup = BackupRecord(
            id: expected.backupID, guest: "g", quiesced: true, stacks: [], consistency: "app",
            bytesDone: expected.bytesDone, bytesTotal: expected.bytesTotal, sizeBytes: nil, archivePath: nil, prunedAt: nil)
        #expect(BackupEntry(backup: backup, op: op).status == expected)
    }
}
