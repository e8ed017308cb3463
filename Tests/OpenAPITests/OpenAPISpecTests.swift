import Foundation
import Stacks
import Testing

@Suite("The OpenAPI documents in docs/openapi")
struct OpenAPISpecTests {
    static let repository = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

    /// Each golden file and the schema it is an example of.
    static let examples = [
        "backup-due.json": "BackupDue", "backup-due-never.json": "BackupDue", "backup-due-not-due.json": "BackupDue",
        "start-backup-request.json": "StartBackupRequest", "start-backup-response.json": "StartBackupResponse",
        "backup-resumed-request.json": "BackupResumedRequest", "backup-status-running.json": "BackupStatus",
        "backup-status-failed.json": "BackupStatus", "backup-list.json": "BackupList", "rollback-request.json": "RollbackRequest", "rollback-started.json": "RollbackStarted", "rollback-preflight.json": "RollbackPreflight", "rollback-status.json": "RollbackStatus", "restore-test-status.json": "RestoreTestStatus", "error-not-found.json": "Error",
        "start-backup-request-prepared.json": "StartBackupRequest", "prepare-backup-response.json": "StartBackupResponse",
        "backup-status-snapshotted.json": "BackupStatus", "backup-status-done-no-capture.json": "BackupStatus",
    ]

    @Test("is a valid OpenAPI 3.1 document, and every golden file matches its schema")
    func valid() async throws {
        let golden = Self.repository + "/Tests/Golden/agent-api"
        let files = try FileManager.default.contentsOfDirectory(atPath: golden).filter { $0.hasSuffix(".json") }
        #expect(Set(files) == Set(Self.examples.keys), "every golden file needs a schema here")
        let arguments = [Self.repository + "/scripts/validate-openapi.py", Self.repository + "/docs/openapi/agent.yaml"]
            + Self.examples.sorted { $0.key < $1.key }.map { "\(golden)/\($0.key)=\($0.value)" }
        let result = try await SubprocessCommandRunner().run(DockerCommand(executable: "python3", arguments: arguments, timeout: .seconds(60)))
        #expect(result.exitCode == 0, "\(result.standardError)")
    }

    @Test("docs/openapi/controller.yaml is a valid OpenAPI 3.1 document")
    func controllerSpec() async throws {
        let arguments = [Self.repository + "/scripts/validate-openapi.py", Self.repository + "/docs/openapi/controller.yaml"]
        let result = try await SubprocessCommandRunner().run(DockerCommand(executable: "python3", arguments: arguments, timeout: .seconds(60)))
        #expect(result.exitCode == 0, "\(result.standardError)")
    }
}
