import AgentAPI
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// An error answer of the agent API: the status and the `{"error": {code, message}}` body.
///
/// The mapping from failures to statuses lives here and in ``ErrorBodyMiddleware``, nowhere else.
public struct AgentHTTPError: Error, Sendable {
    public static let bodyLimit = 64 * 1024

    public var status: HTTPResponse.Status
    public var code: String
    public var message: String

    static func unauthorized(_ message: String) -> Self { .init(status: .unauthorized, code: AgentErrorCode.unauthorized, message: message) }
    static func notFound(_ message: String) -> Self { .init(status: .notFound, code: AgentErrorCode.notFound, message: message) }
    static func badRequest(_ message: String) -> Self { .init(status: .badRequest, code: AgentErrorCode.badRequest, message: message) }
    static func conflict(_ message: String) -> Self { .init(status: .conflict, code: AgentErrorCode.conflict, message: message) }
    static func internalError(_ message: String) -> Self { .init(status: .internalServerError, code: AgentErrorCode.internalError, message: message) }
    static var bodyTooLarge: Self {
        .init(status: .contentTooLarge, code: AgentErrorCode.bodyTooLarge, message: "the request body is over \(bodyLimit) bytes; it was not read")
    }

    var response: Response {
        JSONResponse.make(AgentErrorBody(code: code, message: message), status: status)
    }
}

extension AgentHTTPError {
    /// A rollback the coordinator refused before touching anything.
    init(_ refusal: RollbackCoordinator.Refusal) {
        switch refusal {
        case .notFound(let message): self = .notFound(message)
        case .conflict(let message): self = .conflict(message)
        case .preflight(let message): self = .conflict("pre-flight failed, nothing was changed: \(message)")
        }
    }
}

/// JSON answers in the contract's encoding.
enum JSONResponse {
    static func make(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        guard let data = body(value) else {
            let fallback = Data(#"{"error":{"code":"internal_error","message":"encoding the answer failed"}}"#.utf8)
            return Response(status: .internalServerError, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: fallback)))
        }
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The exact bytes an answer carries.
    static func body(_ value: some Encodable) -> Data? {
        try? AgentJSON.encoder().encode(value)
    }
}

extension Request {
    /// Reads and decodes a JSON body of at most 64 KiB.
    ///
    /// A larger body is 413 before it is parsed: a declared Content-Length is
    /// refused unread, and a streamed body stops at the limit.
    mutating func decodeJSON<Body: Decodable>(_ type: Body.Type) async throws -> Body {
        if let declared = headers[.contentLength].flatMap(Int.init), declared > AgentHTTPError.bodyLimit {
            throw AgentHTTPError.bodyTooLarge
        }
        let buffer: ByteBuffer
        do {
            buffer = try await collectBody(upTo: AgentHTTPError.bodyLimit)
        } catch is NIOTooManyBytesError {
            throw AgentHTTPError.bodyTooLarge
        } catch {
            // A client that went away, or a malformed chunked body: the caller's fault, so not a 500.
            throw AgentHTTPError.badRequest("the request body could not be read: it was cut off or malformed")
        }
        do {
            return try AgentJSON.decoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw AgentHTTPError.badRequest("the body is not a valid \(Body.self): \(Self.describe(error))")
        } catch {
            throw AgentHTTPError.badRequest("the body is not valid JSON")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        switch error {
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .keyNotFound(_, let context), .dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
