import Hummingbird
import Logging

/// Turns every failure into the contract's error body and logs one line per request.
struct ErrorBodyMiddleware: RouterMiddleware {
    typealias Context = AgentRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response: Response
        do {
            response = try await next(request, context)
        } catch let error as AgentHTTPError {
            response = Self.forGuest(error, context: context).response
        } catch let error as any HTTPResponseError {
            response = Self.translate(error).response
        } catch {
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            response = AgentHTTPError.internalError("the agent failed to handle the request; see its log").response
        }
        context.logger.debug("request", metadata: [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
        ])
        return response
    }

    /// `error` without host paths; the full message goes to the log when that took something out.
    private static func forGuest(_ error: AgentHTTPError, context: Context) -> AgentHTTPError {
        var redacted = error
        redacted.message = GuestFacing.redact(error.message)
        if redacted.message != error.message {
            context.logger.info("request refused", metadata: ["status": "\(error.status.code)", "message": "\(error.message)"])
        }
        return redacted
    }

    /// Hummingbird's own errors (no route, wrong method, body too large) in our body format.
    private static func translate(_ error: any HTTPResponseError) -> AgentHTTPError {
        switch error.status {
        case .contentTooLarge: .bodyTooLarge
        case .notFound: .notFound("no such path")
        case .unauthorized: .unauthorized("a bearer token is required")
        default: AgentHTTPError(status: error.status, code: "http_\(error.status.code)", message: error.status.reasonPhrase)
        }
    }
}
