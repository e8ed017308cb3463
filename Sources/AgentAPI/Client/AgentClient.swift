import CurlHTTP
import Foundation

/// The controller's HTTPS client for the host agent, over libcurl with the agent's leaf pinned.
public struct AgentClient: BackupAgent {
    public let configuration: AgentClientConfiguration

    public init(configuration: AgentClientConfiguration) {
        self.configuration = configuration
    }

    public func backupDue() async throws(AgentClientError) -> BackupDue {
        try await call("GET", "/backup/due", as: BackupDue.self).value
    }

    public func startBackup(
        idempotencyKey: String, _ request: StartBackupRequest
    ) async throws(AgentClientError) -> (response: StartBackupResponse, created: Bool) {
        let reply = try await call(
            "POST", "/backup", body: request, headers: ["Idempotency-Key: \(idempotencyKey)"],
            as: StartBackupResponse.self)
        return (reply.value, reply.status == 202)
    }

    public func prepareBackup(idempotencyKey: String) async throws(AgentClientError) -> (response: StartBackupResponse, created: Bool) {
        let reply = try await call(
            "POST", "/backup/prepare", body: EmptyBody(), headers: ["Idempotency-Key: \(idempotencyKey)"],
            as: StartBackupResponse.self)
        return (reply.value, reply.status == 202)
    }

    public func backupStatus(backupID: String?) async throws(AgentClientError) -> BackupStatus {
        var path = "/backup/status"
        if let backupID {
            path += "?backup_id=" + (backupID.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? backupID)
        }
        return try await call("GET", path, as: BackupStatus.self).value
    }

    public func backupResumed(backupID: String) async throws(AgentClientError) -> BackupStatus {
        try await call("POST", "/backup/resumed", body: BackupResumedRequest(backupID: backupID), as: BackupStatus.self).value
    }

    public func backups() async throws(AgentClientError) -> [BackupStatus] {
        try await call("GET", "/backups", as: BackupList.self).value.backups
    }

    public func startRollback(backupID: String, idempotencyKey: String?) async throws(AgentClientError) -> RollbackStarted {
        let headers = idempotencyKey.map { ["Idempotency-Key: \($0)"] } ?? []
        return try await call("POST", "/rollback", body: RollbackRequest(backupID: backupID), headers: headers, as: RollbackStarted.self).value
    }

    public func rollbackPreflight(backupID: String) async throws(AgentClientError) -> RollbackPreflight {
        let encoded = backupID.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? backupID
        return try await call("GET", "/rollback/preflight?backup_id=" + encoded, as: RollbackPreflight.self).value
    }

    public func rollbackStatus(opID: String) async throws(AgentClientError) -> RollbackStatus {
        let encoded = opID.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? opID
        return try await call("GET", "/rollback/status?op_id=" + encoded, as: RollbackStatus.self).value
    }

    public func latestRollbackStatus() async throws(AgentClientError) -> RollbackStatus? {
        do {
            return try await call("GET", "/rollback/status", as: RollbackStatus.self).value
        } catch .http(404, _, _) {
            return nil
        }
    }

    public func cancelRollback(opID: String) async throws(AgentClientError) -> RollbackStatus {
        try await call("POST", "/rollback/cancel", body: RollbackCancelRequest(opID: opID), as: RollbackStatus.self).value
    }

    public func restoreTestStatus() async throws(AgentClientError) -> RestoreTestStatus {
        try await call("GET", "/restore-test/status", as: RestoreTestStatus.self).value
    }

    /// `GET /healthz`, which needs no token but still goes through the pinned handshake.
    public func health() async throws(AgentClientError) {
        _ = try await send("GET", "/healthz", body: nil, headers: [])
    }

    private func call<Response: Decodable>(
        _ method: String, _ path: String, headers: [String] = [], as: Response.Type
    ) async throws(AgentClientError) -> (value: Response, status: Int) {
        try await decode(send(method, path, body: nil, headers: headers))
    }

    private func call<Body: Encodable, Response: Decodable>(
        _ method: String, _ path: String, body: Body, headers: [String] = [], as: Response.Type
    ) async throws(AgentClientError) -> (value: Response, status: Int) {
        let encoded: [UInt8]
        do {
            encoded = Array(try AgentJSON.encoder().encode(body))
        } catch {
            throw .invalidConfiguration("encoding the request body: \(error)")
        }
        return try await decode(send(method, path, body: encoded, headers: headers))
    }

    private func send(_ method: String, _ path: String, body: [UInt8]?, headers: [String]) async throws(AgentClientError) -> CurlReply {
        let reply: CurlReply
        do {
            reply = try await CurlTransfer.perform(request(method, path, body: body, headers: headers))
        } catch {
            throw AgentClientError(error, url: configuration.baseURL + path)
        }
        guard (200..<300).contains(reply.status) else {
            throw Self.httpError(reply)
        }
        return reply
    }

    private func request(_ method: String, _ path: String, body: [UInt8]?, headers: [String]) -> CurlRequest {
        var allHeaders = ["Authorization: Bearer \(configuration.token)", "Accept: application/json"]
        if body != nil { allHeaders.append("Content-Type: application/json") }
        allHeaders += headers
        return CurlRequest(
            method: method, url: configuration.baseURL + path, headers: allHeaders, body: body,
            trust: .pinnedKey(configuration.pin), connectTimeout: configuration.connectTimeout,
            totalTimeout: configuration.totalTimeout, responseLimit: configuration.responseLimit)
    }

    private func decode<Response: Decodable>(_ reply: CurlReply) throws(AgentClientError) -> (value: Response, status: Int) {
        do {
            return (try AgentJSON.decoder().decode(Response.self, from: Data(reply.body)), reply.status)
        } catch {
            throw .invalidResponse("\(Response.self) from a \(reply.status) answer: \(error)")
        }
    }

    private static func httpError(_ reply: CurlReply) -> AgentClientError {
        if let body = try? AgentJSON.decoder().decode(AgentErrorBody.self, from: Data(reply.body)) {
            return .http(status: reply.status, code: body.error.code, message: body.error.message)
        }
        let text = String(decoding: reply.body.prefix(200), as: UTF8.self)
        return .http(status: reply.status, code: "unknown", message: text.isEmpty ? "(empty body)" : text)
    }
}

/// `{}`: the body of a POST that needs none.
struct EmptyBody: Codable, Sendable {}
