import Hummingbird

/// The request context of the agent API: the guest the bearer token belongs to.
public struct AgentRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Set by ``BearerAuthMiddleware``; every handler acts on this guest only.
    public var guest: GuestRecord?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    /// Bodies are small JSON documents; anything larger is refused, never truncated.
    public var maxUploadSize: Int { AgentHTTPError.bodyLimit }

    /// The authenticated guest; the auth middleware guarantees one on protected routes.
    func requireGuest() throws -> GuestRecord {
        guard let guest else { throw AgentHTTPError.unauthorized("a bearer token is required") }
        return guest
    }
}
