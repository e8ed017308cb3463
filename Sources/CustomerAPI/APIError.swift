import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Stacks

/// An error answer of the customer API: `{"error": {"code", "message"}}` with its status.
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String

    var response: Response {
        let body = ["error": ["code": code, "message": message]]
        let data = (try? JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])) ?? Data()
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The one place stack failures become HTTP statuses.
    init(_ error: StackError) {
        code = error.code.description
        message = error.description
        status = switch error.code {
        case .invalidName: .badRequest
        case .unknownStack: .notFound
        case .protected, .unmanaged: .forbidden
        case .notDeployed, .busy, .ambiguousProject: .conflict
        case .timeout: .gatewayTimeout
        case .dockerUnavailable, .cancelled: .serviceUnavailable
        case .malformedComposeFile: .unprocessableContent
        default: .badGateway
        }
    }

    init(status: HTTPResponse.Status, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }
}

/// Every failure as the error body; one log line per request.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as APIError {
            response = error.response
        } catch let error as StackError {
            response = APIError(error).response
        } catch let error as any HTTPResponseError {
            response = APIError(status: error.status, code: "http_\(error.status.code)", message: error.status.reasonPhrase).response
        } catch {
            response = APIError(status: .internalServerError, code: "internal_error", message: "\(error)").response
        }
        context.logger.debug("request", metadata: [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
        ])
        return response
    }
}

/// The customer's bearer token, compared in constant time.
struct APITokenMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw APIError(status: .unauthorized, code: "unauthorized", message: "send `Authorization: Bearer TOKEN` with the token from api.token_file")
        }
        let presented = Array(header.utf8.dropFirst("Bearer ".count))
        var difference = UInt8(presented.count == token.count ? 0 : 1)
        for index in token.indices { difference |= token[index] ^ (index < presented.count ? presented[index] : 0) }
        guard difference == 0 else {
            throw APIError(status: .unauthorized, code: "unauthorized", message: "the token is not this controller's")
        }
        return try await next(request, context)
    }
}
