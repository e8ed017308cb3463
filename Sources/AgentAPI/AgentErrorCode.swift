/// The `code` values an agent error body carries, shared so both sides spell them alike.
public enum AgentErrorCode {
    /// No bearer token, or one the agent does not know.
    public static let unauthorized = "unauthorized"
    /// No such id for the caller's guest (which includes another guest's ids).
    public static let notFound = "not_found"
    /// The request body is over the agent's limit.
    public static let bodyTooLarge = "body_too_large"
    /// Malformed JSON, a wrong type, or a missing header or parameter.
    public static let badRequest = "bad_request"
    /// Another backup of the same guest is in flight.
    public static let conflict = "conflict"
    /// The guest has started as many backups in 24 hours as the agent allows.
    public static let tooManyBackups = "too_many_backups"
    /// The path exists, but not under this method; the `Allow` header lists the ones it has.
    public static let methodNotAllowed = "method_not_allowed"
    /// A request body that is not sent as `application/json`.
    public static let unsupportedMediaType = "unsupported_media_type"
    /// The agent failed; the message says where.
    public static let internalError = "internal_error"
}
