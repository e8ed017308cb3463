import AgentAPI
import Foundation
import Stacks
import TestSupport
import Testing

/// What HTTP itself says, on the real customer API: 405 and `Allow`, `HEAD`, 415, and
/// bodies that are cut off or malformed. No stacks are needed, so no docker.
@Suite("The customer API's HTTP details")
struct CustomerAPIHTTPTests {
    /// `curl -i`: the status, the header block (lowercased) and the body.
    static func curl(_ arguments: [String]) async throws -> (status: Int, headers: String, body: String) {
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "curl", arguments: ["-s", "-i"] + arguments, timeout: .seconds(60)))
        let parts = output.standardOutput.components(separatedBy: "\r\n\r\n")
        guard output.exitCode == 0, let head = parts.first, let statusText = head.split(separator: " ").dropFirst().first, let status = Int(statusText) else {
            throw HarnessError("curl \(arguments) failed: \(output.standardError)")
        }
        return (status, head.lowercased(), parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test("405 with Allow, HEAD where GET is, 415 for a body that is not JSON, 400 for a malformed chunked body")
    func details() async throws {
        let controller = try await APIOnlyController()
        let auth = ["-H", "Authorization: Bearer \(controller.token)"]
        let wrong = try await Self.curl(["-X", "DELETE"] + auth + [controller.baseURL + "/api/backup"])
        #expect(wrong.status == 405 && wrong.headers.contains("allow: get, head"), "\(wrong)")
        let stack = try await Self.curl(["-X", "GET"] + auth + [controller.baseURL + "/api/stacks/webapp/restart"])
        #expect(stack.status == 405 && stack.headers.contains("allow: post"), "\(stack)")
        let head = try await Self.curl(["-I", controller.baseURL + "/healthz"])
        #expect(head.status == 200 && head.body.isEmpty, "\(head)")
        let health = try await Self.curl([controller.baseURL + "/healthz"])
        #expect(health.status == 200 && health.body.contains(#""version":"\#(ProductVersion.current)""#), "\(health)")

        let text = try await Self.curl(["-X", "POST", "-H", "Content-Type: text/plain", "--data-binary", "{}"] + auth + [controller.baseURL + "/api/rollback"])
        #expect(text.status == 415 && text.body.contains("unsupported_media_type"), "\(text)")
        let chunked = try await Self.curl(
            ["-X", "POST", "-H", "Content-Type: application/json", "-H", "Transfer-Encoding: chunked", "--data-binary", "{}"] + auth
                + [controller.baseURL + "/api/rollback"])
        // Framed correctly, the body is read and found wanting before the missing agent matters.
        #expect(chunked.status == 400 && chunked.body.contains("backup_id"), "\(chunked)")
        let script = """
            import socket
            s = socket.create_connection(("127.0.0.1", \(controller.port)))
            s.sendall(b"POST /api/rollback HTTP/1.1\\r\\nHost: a\\r\\nAuthorization: Bearer \(controller.token)\\r\\n"
                      b"Content-Type: application/json\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n{}\\r\\n0\\r\\n\\r\\n")
            print(s.recv(4096).split(b" ")[1].decode())
            """
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "python3", arguments: ["-c", script], timeout: .seconds(60)))
        #expect(output.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == "400", "a malformed chunked body: \(output.standardOutput) \(output.standardError)")
        #expect(!controller.process.log.contains("internal_error"))
    }
}
