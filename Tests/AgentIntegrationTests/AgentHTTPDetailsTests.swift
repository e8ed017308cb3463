import AgentAPI
import Foundation
import Stacks
import TestSupport
import Testing

/// What HTTP itself says, on the real agent: 405 and `Allow`, `HEAD`, 415, bodies that are
/// cut off or malformed, and no host path in anything a guest reads.
@Suite("The agent's HTTP details")
struct AgentHTTPDetailsTests {
    struct Answer {
        var status: Int
        var headers: String
        var body: String
    }

    /// `curl -i` against the agent with its pin; the status line, the header block and the body.
    static func curl(_ agent: AgentHarness, _ arguments: [String]) async throws -> Answer {
        let output = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "curl", arguments: ["-sk", "-i", "--pinnedpubkey", agent.pin] + arguments, timeout: .seconds(60)))
        let parts = output.standardOutput.components(separatedBy: "\r\n\r\n")
        guard output.exitCode == 0, let head = parts.first, let statusText = head.split(separator: " ").dropFirst().first, let status = Int(statusText) else {
            throw HarnessError("curl \(arguments) failed: \(output.standardError)")
        }
        return Answer(status: status, headers: head.lowercased(), body: parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    func start() async throws -> (AgentHarness, String) {
        let agent = try await AgentHarness()
        try agent.root.write("data/alpha/file.txt", Array("alpha\n".utf8))
        let token = try await agent.addGuest("alpha", dataDirectory: agent.root.path + "/data/alpha")
        try await agent.start()
        return (agent, token)
    }

    @Test("a wrong method is 405 with Allow; HEAD answers wherever GET does")
    func methods() async throws {
        let (agent, token) = try await start()
        let wrong = try await Self.curl(agent, ["-X", "DELETE", agent.baseURL + "/backup/due"])
        #expect(wrong.status == 405 && wrong.headers.contains("allow: get, head"), "\(wrong)")
        #expect(wrong.body.contains("method_not_allowed"))
        let getOnPost = try await Self.curl(agent, ["-X", "GET", "-H", "Authorization: Bearer \(token)", agent.baseURL + "/rollback"])
        #expect(getOnPost.status == 405 && getOnPost.headers.contains("allow: post"), "\(getOnPost)")
        let unknown = try await Self.curl(agent, ["-X", "DELETE", agent.baseURL + "/no/such/path"])
        #expect(unknown.status == 404)

        let health = try await Self.curl(agent, ["-I", agent.baseURL + "/healthz"])
        #expect(health.status == 200 && health.body.isEmpty, "\(health)")
        let due = try await Self.curl(agent, ["-I", "-H", "Authorization: Bearer \(token)", agent.baseURL + "/backup/due"])
        #expect(due.status == 200, "\(due)")
        let anonymous = try await Self.curl(agent, ["-I", agent.baseURL + "/backup/due"])
        #expect(anonymous.status == 401)
    }

    @Test("a body that is not JSON is 415; a cut-off or malformed body is 400, never 500")
    func bodies() async throws {
        let (agent, token) = try await start()
        let auth = ["-H", "Authorization: Bearer \(token)", "-H", "Idempotency-Key: k1"]
        let text = try await Self.curl(agent, ["-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", "{}"] + auth + [agent.baseURL + "/backup"])
        #expect(text.status == 415 && text.body.contains("unsupported_media_type"), "\(text)")
        let none = try await Self.curl(agent, ["-X", "POST", "-H", "Content-Type:", "--data-binary", #"{"quiesced":true,"stacks":[]}"#] + auth + [agent.baseURL + "/backup"])
        #expect(none.status == 415, "\(none)")
        let charset = try await Self.curl(agent, ["-X", "POST", "-H", "Content-Type: Application/JSON; charset=utf-8", "--data-binary", "{}"] + auth + [agent.baseURL + "/backup"])
        #expect(charset.status == 400, "JSON with a charset is JSON: \(charset)")

        // Raw TLS, to send what curl will not: a malformed chunk, and a body cut off by a disconnect.
        let script = """
            import socket, ssl, sys
            context = ssl._create_unverified_context()
            def send(data, read=True):
                s = context.wrap_socket(socket.create_connection(("127.0.0.1", \(agent.port))))
                s.sendall(data)
                answer = s.recv(4096).split(b" ")[1].decode() if read else "sent"
                s.close()
                return answer
            head = b"POST /rollback HTTP/1.1\\r\\nHost: a\\r\\nAuthorization: Bearer \(token)\\r\\nContent-Type: application/json\\r\\n"
            print(send(head + b"Transfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n{}\\r\\n0\\r\\n\\r\\n"))
            print(send(head + b"Content-Length: 100\\r\\n\\r\\n{\\"backup_id\\"", read=False))
            """
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "python3", arguments: ["-c", script], timeout: .seconds(60)))
        #expect(output.exitCode == 0, "\(output.standardError)")
        #expect(output.standardOutput.split(separator: "\n").first == "400", "a malformed chunked body: \(output.standardOutput)")
        try await Task.sleep(for: .seconds(1))
        #expect(!agent.log.contains("status=500") && !agent.log.contains("request failed"), "a client error was logged as the agent's: \(agent.log)")
    }

    @Test("errors a guest reads carry no host path; the agent's log keeps the full message")
    func noHostPaths() async throws {
        let (agent, token) = try await start()
        // A data dir that is gone makes the backup fail with a message that names it.
        try FileManager.default.removeItem(atPath: agent.root.path + "/data/alpha")
        let client = try agent.client(token: token)
        let id = try await client.startBackup(idempotencyKey: "gone", StartBackupRequest(quiesced: true, stacks: [])).response.backupID
        let failed = try await agent.waitForFinish(client, backupID: id)
        #expect(failed.phase == .failed)
        let error = try #require(failed.error)
        #expect(!error.contains(agent.root.path) && error.contains(GuestFacingPlaceholder.text), "\(error)")
        let listed = try await Self.curl(agent, ["-H", "Authorization: Bearer \(token)", agent.baseURL + "/backups"])
        #expect(!listed.body.contains(agent.root.path), "\(listed.body)")
        #expect(agent.log.contains(agent.root.path + "/data/alpha"), "the operator lost the path: \(agent.log)")
    }
}

/// The text `GuestFacing` puts where a host path was; spelled here so the test does not import the agent's internals.
enum GuestFacingPlaceholder {
    static let text = "<host path>"
}
