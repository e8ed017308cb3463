import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// A handler's answer: `{"data": …}`, plus `total` for the list calls that set it.
struct Reply: Sendable {
    var data: JSONValue
    var total: Int?

    init(_ data: JSONValue, total: Int? = nil) {
        self.data = data
        self.total = total
    }

    var response: Response {
        var members: [(String, JSONValue)] = [("data", data)]
        if let total { members.append(("total", .int(total))) }
        return Response(
            status: .ok, headers: [.contentType: "application/json;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(members).serialized)))
    }
}

/// pveproxy's front: token auth, body decoding, injected faults, then the handlers.
struct ProxmoxResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let fake: ProxmoxFake

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        var request = request
        let method = request.method.rawValue
        let rawPath = request.uri.path
        let prefix = "/api2/json"
        let isPct = rawPath == "/fake/pct"
        guard isPct || rawPath.hasPrefix(prefix + "/") else {
            return ProxmoxError(status: 501, message: "Method '\(method) \(rawPath)' not implemented").response
        }
        let user: String
        switch fake.authenticate(request.headers[.authorization]) {
        case .missing: return ProxmoxError.unauthorized("No ticket")
        case .failed: return ProxmoxError.unauthorized("Authentication failed!")
        case .user(let name): user = name
        }
        let body = try await request.collectBody(upTo: 16 << 20)
        let bodyData = Data(body.readableBytesView)
        if isPct {
            return await fake.pctResponse(bodyData)
        }
        let path = String(rawPath.dropFirst(prefix.count))
        var params = APIRequest.formDecode(request.uri.query ?? "")
        if !bodyData.isEmpty {
            let contentType = request.headers[.contentType]?.lowercased() ?? ""
            if contentType.hasPrefix("application/json") {
                // Unsure: what pve-http-server answers for a body that is not a JSON object.
                guard let decoded = APIRequest.jsonDecode(bodyData) else {
                    return ProxmoxError(status: 400, message: "invalid JSON in request body").response
                }
                params.merge(decoded) { $1 }
            } else {
                params.merge(APIRequest.formDecode(String(decoding: bodyData, as: UTF8.self))) { $1 }
            }
        }
        let call = APIRequest(method: method, path: path, params: params, user: user)

        switch fake.takeAnswerFault(method: method, path: path) {
        case .before(let status): return ProxmoxError.bare(status)
        case .denied(let error): return error.response
        case .after(let status):
            _ = await handle(call)
            return ProxmoxError.bare(status)
        case .none:
            return await handle(call)
        }
    }

    private func handle(_ call: APIRequest) async -> Response {
        do {
            return try await fake.route(call).response
        } catch {
            return error.response
        }
    }
}

extension ProxmoxFake {
    enum Authentication {
        case missing
        case failed
        case user(String)
    }

    /// pve-http-server's token check: the header matched by `(?:^|\s)PVEAPIToken(?:=| )([^;]*)`,
    /// URL-unescaped, split at the last `=` into token id and secret.
    func authenticate(_ header: String?) -> Authentication {
        guard let header,
              let regex = try? NSRegularExpression(pattern: #"(?:^|\s)PVEAPIToken(?:=| )([^;]*)"#),
              let match = regex.firstMatch(in: header, range: NSRange(header.startIndex..., in: header)),
              let range = Range(match.range(at: 1), in: header) else {
            // No token and no ticket cookie.
            return .missing
        }
        let raw = String(header[range])
        let value = raw.removingPercentEncoding ?? raw
        guard let equals = value.lastIndex(of: "=") else { return .failed }
        let id = String(value[..<equals])
        let secret = String(value[value.index(after: equals)...])
        guard id.range(of: #"^[^\s:/!@]+@[A-Za-z][A-Za-z0-9.\-_]+![A-Za-z][A-Za-z0-9.\-_]+$"#, options: .regularExpression) != nil,
              id == tokenID, secret == tokenSecret else {
            return .failed
        }
        return .user(id)
    }

    enum AnswerFault {
        case none
        case before(Int)
        case after(Int)
        case denied(ProxmoxError)
    }

    /// Uses up one matching `.answer` fault, or finds a standing `.permissionDenied`.
    func takeAnswerFault(method: String, path: String) -> AnswerFault {
        state.withLock { state in
            for (index, fault) in state.faults.enumerated() {
                switch fault {
                case .answer(let status, let wantedMethod, let suffix, let times, let afterHandling)
                    where wantedMethod.uppercased() == method && path.hasSuffix(suffix) && times > 0:
                    if times == 1 {
                        state.faults.remove(at: index)
                    } else {
                        state.faults[index] = .answer(status: status, method: wantedMethod, pathSuffix: suffix,
                                                      times: times - 1, afterHandling: afterHandling)
                    }
                    return afterHandling ? .after(status) : .before(status)
                case .permissionDenied(let aclPath, let privilege, let wantedMethod, let suffix)
                    where wantedMethod.uppercased() == method && path.hasSuffix(suffix):
                    return .denied(ProxmoxError(status: 403, message: "Permission check failed (\(aclPath), \(privilege))"))
                default:
                    continue
                }
            }
            return .none
        }
    }
}
