import Hummingbird
import Logging

/// Resolves the bearer token to exactly one guest, or answers 401.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = AgentRequestContext

    let store: AgentStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer ") else {
            throw AgentHTTPError.unauthorized("send `Authorization: Bearer TOKEN` with the guest's token")
        }
        let digest = GuestToken.digest(String(header.dropFirst("Bearer ".count)))
        // Every guest is compared, so the time taken does not reveal which digest came close.
        var match: GuestRecord?
        for guest in try store.guests() where GuestToken.digestsMatch(guest.tokenSHA256, digest) {
            match = guest
        }
        guard let match else { throw AgentHTTPError.unauthorized("the token is not known to this agent") }
        var context = context
        context.guest = match
        context.logger[metadataKey: "guest"] = "\(match.name)"
        return try await next(request, context)
    }
}
