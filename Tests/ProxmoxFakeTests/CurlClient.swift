import Foundation
import ProxmoxFake
import Stacks
import TestSupport

/// One answer as the wire carried it: status, reason phrase, raw body, and the body's JSON when it is JSON.
struct CurlAnswer {
    var status: Int
    var reason: String
    var body: String

    var json: [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any]
    }

    /// The `data` member.
    var data: Any? { json?["data"] }
    var string: String? { data as? String }
    var objects: [[String: Any]] { data as? [[String: Any]] ?? [] }
    var object: [String: Any] { data as? [String: Any] ?? [:] }
    var message: String? { json?["message"] as? String }
    var errors: [String: String] { json?["errors"] as? [String: String] ?? [:] }
}

/// Talks to a ``ProxmoxFake`` through the `curl` CLI, trusting its certificate file and its pin,
/// so these tests see exactly what a client on the wire would.
struct CurlClient {
    let fake: ProxmoxFake
    let scratch: String

    enum Auth {
        case token
        case none
        case header(String)
    }

    /// Sends `params` as a form body (POST, PUT) or as the query (GET, DELETE).
    func call(_ method: String, _ path: String, _ params: [(String, String)] = [], auth: Auth = .token) async throws -> CurlAnswer {
        let tag = UUID().uuidString.prefix(8)
        let headerFile = "\(scratch)/curl-\(tag).headers"
        let bodyFile = "\(scratch)/curl-\(tag).body"
        defer {
            try? FileManager.default.removeItem(atPath: headerFile)
            try? FileManager.default.removeItem(atPath: bodyFile)
        }
        var arguments = ["-sS", "--cacert", fake.caFile, "--pinnedpubkey", fake.pin, "-D", headerFile, "-o", bodyFile,
                         "-w", "%{http_code}", "-X", method]
        switch auth {
        case .token: arguments += ["-H", "Authorization: PVEAPIToken=\(fake.tokenFileContents)"]
        case .none: break
        case .header(let value): arguments += ["-H", "Authorization: \(value)"]
        }
        if method == "GET" || method == "DELETE", !params.isEmpty { arguments.append("-G") }
        for (key, value) in params { arguments += ["--data-urlencode", "\(key)=\(value)"] }
        arguments.append(fake.apiURL + path)
        let output = try await SubprocessCommandRunner().run(DockerCommand(executable: "curl", arguments: arguments, timeout: .seconds(60)))
        guard output.exitCode == 0, let status = Int(output.standardOutput) else {
            throw HarnessError("curl \(method) \(path) failed: \(output.standardError)")
        }
        let headers = (try? String(contentsOfFile: headerFile, encoding: .utf8)) ?? ""
        let statusLine = headers.split(separator: "\r\n").first.map(String.init) ?? ""
        let reason = statusLine.split(separator: " ", maxSplits: 2).dropFirst(2).first.map(String.init) ?? ""
        let body = (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? ""
        return CurlAnswer(status: status, reason: reason, body: body)
    }

    /// `/api2/json` plus `path`.
    func api(_ method: String, _ path: String, _ params: [(String, String)] = [], auth: Auth = .token) async throws -> CurlAnswer {
        try await call(method, "/api2/json" + path, params, auth: auth)
    }

    /// Polls the task until it stops; returns its status object.
    func waitForTask(_ upid: String, node: String = "pve1") async throws -> [String: Any] {
        var status: [String: Any] = [:]
        let stopped = try await eventually(timeout: .seconds(120), every: .milliseconds(50)) {
            status = try await api("GET", "/nodes/\(node)/tasks/\(upid)/status").object
            return status["status"] as? String == "stopped"
        }
        guard stopped else { throw HarnessError("task \(upid) still running: \(status)") }
        return status
    }

    /// The whole task log, lines in order.
    func taskLog(_ upid: String, node: String = "pve1") async throws -> [String] {
        try await api("GET", "/nodes/\(node)/tasks/\(upid)/log", [("limit", "10000")]).objects.compactMap { $0["t"] as? String }
    }
}
