import CurlHTTP
import Foundation

/// The Proxmox VE API as the agent calls it: token auth, form bodies, `{"data": …}` envelopes,
/// and errors read from both the body and the status.
///
/// GETs are retried while the API answers 595 or 596 (pvedaemon busy or restarting) or cannot be
/// reached; a POST is never retried here, since a lost answer may hide a started task. Its caller
/// looks for the task first (see ``ProxmoxBackend``).
struct ProxmoxClient: Sendable {
    let baseURL: String
    /// `USER@REALM!TOKENID`, as tasks started with the token name their user.
    let tokenID: String
    private let secret: String
    let trust: CurlTrust
    /// How a GET is retried while the API is unavailable: this many tries, `retryDelay` apart.
    var getAttempts = 8
    var retryDelay: Duration = .seconds(1)

    /// - Parameter token: the token file's line, `USER@REALM!TOKENID=SECRET`.
    init(baseURL: String, token: String, trust: CurlTrust) throws(ProxmoxError) {
        // The secret is a UUID, so the last `=` separates it, as pveproxy splits it.
        guard let equals = token.lastIndex(of: "="), token[..<equals].contains("!"), token[..<equals].contains("@"),
              !token[token.index(after: equals)...].isEmpty else {
            throw ProxmoxError(.configuration, "the token file must hold one line USER@REALM!TOKENID=SECRET, as `pveum user token add` prints it")
        }
        self.baseURL = baseURL
        self.tokenID = String(token[..<equals])
        self.secret = String(token[token.index(after: equals)...])
        self.trust = trust
    }

    func get<T: Decodable & Sendable>(_ path: String, query: [(String, String)] = [], as type: T.Type) async throws(ProxmoxError) -> T {
        var attempt = 1
        while true {
            do {
                return try await send("GET", path, query: query, form: nil, as: type)
            } catch where error.isUnavailable && attempt < getAttempts {
                attempt += 1
                try? await Task.sleep(for: retryDelay)
                if Task.isCancelled { throw ProxmoxError(.cancelled, "cancelled while the API was unavailable") }
            }
        }
    }

    func post<T: Decodable & Sendable>(_ path: String, form: [(String, String)], as type: T.Type) async throws(ProxmoxError) -> T {
        try await send("POST", path, query: [], form: form, as: type)
    }

    func put(_ path: String, form: [(String, String)]) async throws(ProxmoxError) {
        _ = try await send("PUT", path, query: [], form: form, as: JSONNull.self)
    }

    func delete<T: Decodable & Sendable>(_ path: String, query: [(String, String)] = [], as type: T.Type) async throws(ProxmoxError) -> T {
        try await send("DELETE", path, query: query, form: nil, as: type)
    }

    private func send<T: Decodable>(
        _ method: String, _ path: String, query: [(String, String)], form: [(String, String)]?, as type: T.Type
    ) async throws(ProxmoxError) -> T {
        let url = baseURL + "/api2/json" + path + (query.isEmpty ? "" : "?" + Self.encode(query))
        var headers = ["Authorization: PVEAPIToken=\(tokenID)=\(secret)", "Accept: application/json"]
        let body = form.map { Array(Self.encode($0).utf8) }
        if body != nil { headers.append("Content-Type: application/x-www-form-urlencoded") }
        let reply: CurlReply
        do {
            reply = try await CurlTransfer.perform(CurlRequest(
                method: method, url: url, headers: headers, body: body, trust: trust,
                connectTimeout: .seconds(10), totalTimeout: .seconds(60), responseLimit: 16 << 20))
        } catch {
            throw ProxmoxError(failure: error, method: method, path: path)
        }
        guard (200..<300).contains(reply.status) else {
            throw ProxmoxError(status: reply.status, body: reply.body, method: method, path: path)
        }
        do {
            return try JSONDecoder().decode(Envelope<T>.self, from: Data(reply.body)).data
        } catch {
            throw ProxmoxError(.invalidResponse, "\(method) \(path): the answer is not the {\"data\": …} the API documents: \(error)")
        }
    }

    static func encode(_ pairs: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return pairs.map { key, value in
            "\(key.addingPercentEncoding(withAllowedCharacters: allowed) ?? key)=\(value.addingPercentEncoding(withAllowedCharacters: allowed) ?? value)"
        }.joined(separator: "&")
    }

    /// A path segment: a volid such as `local:backup/x.tar.zst` or a UPID, escaped whole.
    static func segment(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// `{"data": …}`; a missing or null `data` decodes as the type's null where it has one.
private struct Envelope<T: Decodable>: Decodable {
    var data: T

    enum CodingKeys: String, CodingKey { case data }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        if let null = JSONNull() as? T, (try? container.decodeNil(forKey: .data)) ?? true {
            data = null
        } else {
            data = try container.decode(T.self, forKey: .data)
        }
    }
}

/// A `data` the agent does not read: `null` from PUT, or anything else.
struct JSONNull: Decodable, Sendable {
    init() {}
    init(from decoder: any Decoder) throws {}
}

/// A config value, which the API sends as a string or a number; `text` holds a string's value.
struct JSONScalar: Decodable, Sendable {
    var text: String?

    init(from decoder: any Decoder) throws {
        text = try? decoder.singleValueContainer().decode(String.self)
    }
}

/// An integer the API sends as a number on some versions and as a string on others (`vmid`, `nextid`).
struct FlexibleInt: Decodable, Sendable, Equatable {
    var value: Int

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int.self) {
            value = number
        } else if let text = try? container.decode(String.self), let number = Int(text) {
            value = number
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "neither an integer nor a string holding one")
        }
    }
}

/// A call to the Proxmox API that failed, with what to do about it.
struct ProxmoxError: Error, Sendable, CustomStringConvertible {
    struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// 595, 596, no connection or a timeout: the API may answer later; a POST may have run.
        static let unavailable = Code(name: "unavailable")
        static let unauthorized = Code(name: "unauthorized")
        static let forbidden = Code(name: "forbidden")
        /// 400: a parameter the API refused.
        static let badRequest = Code(name: "bad_request")
        /// Any other error status: the API's own message says why.
        static let failed = Code(name: "failed")
        static let untrusted = Code(name: "untrusted_certificate")
        static let invalidResponse = Code(name: "invalid_response")
        static let configuration = Code(name: "configuration")
        static let cancelled = Code(name: "cancelled")
        var description: String { name }
    }

    var code: Code
    var message: String
    /// The HTTP status, when the API answered.
    var status: Int?

    init(_ code: Code, _ message: String, status: Int? = nil) {
        self.code = code
        self.message = message
        self.status = status
    }

    var isUnavailable: Bool { code == .unavailable }

    var description: String { "Proxmox API \(code): \(message)" }

    init(failure: CurlFailure, method: String, path: String) {
        let call = "\(method) \(path)"
        switch failure {
        case .pinMismatch:
            self.init(.untrusted, "\(call): the API's certificate does not carry the key in proxmox.pin_sha256; nothing was sent. Read the pin with `openssl x509 -in /etc/pve/local/pve-ssl.pem -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`")
        case .untrustedCertificate(let detail):
            self.init(.untrusted, "\(call): the API's certificate does not chain to proxmox.ca_file or names another host (\(detail)); nothing was sent")
        case .connectionRefused:
            self.init(.unavailable, "\(call): nothing listens at proxmox.api_url; is pveproxy running?")
        case .timedOut(let detail):
            self.init(.unavailable, "\(call): no answer in time (\(detail))")
        case .cancelled:
            self.init(.cancelled, "\(call): cancelled")
        case .responseTooLarge(let limit):
            self.init(.invalidResponse, "\(call): the answer was over \(limit) bytes")
        case .transport(let code, let detail):
            self.init(.unavailable, "\(call): curl error \(code): \(detail)")
        }
    }

    /// Old hosts put the message only in the status line's reason phrase, which libcurl does not
    /// hand back; the body's `message` and `errors` are read where they are (libpve-http-server ≥ 5.2).
    init(status: Int, body: [UInt8], method: String, path: String) {
        struct Body: Decodable {
            var message: String?
            var errors: [String: String]?
        }
        let parsed = try? JSONDecoder().decode(Body.self, from: Data(body))
        var detail = parsed?.message?.trimmingCharacters(in: .whitespacesAndNewlines)
            ?? String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let errors = parsed?.errors, !errors.isEmpty {
            detail += " (" + errors.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.trimmingCharacters(in: .whitespacesAndNewlines))" }.joined(separator: "; ") + ")"
        }
        if detail.isEmpty { detail = "no message" }
        let call = "\(method) \(path) answered \(status)"
        switch status {
        case 595, 596:
            self.init(.unavailable, "\(call): the API's daemon is busy or restarting", status: status)
        case 401:
            self.init(.unauthorized, "\(call): \(detail); check proxmox.token_file (USER@REALM!TOKENID=SECRET) and that the token is not expired", status: status)
        case 403:
            self.init(.forbidden, "\(call): \(detail); the token lacks that privilege (the README lists what it needs)", status: status)
        case 400:
            self.init(.badRequest, "\(call): \(detail)", status: status)
        default:
            self.init(.failed, "\(call): \(detail)", status: status)
        }
    }
}
