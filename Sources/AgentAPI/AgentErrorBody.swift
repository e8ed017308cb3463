/// Every agent error response: `{"error": {"code": …, "message": …}}`.
public struct AgentErrorBody: Codable, Sendable, Equatable {
    /// The machine-readable code and the human message.
    public struct Detail: Codable, Sendable, Equatable {
        /// A stable snake_case code, e.g. `unauthorized`, `not_found`, `body_too_large`.
        public var code: String
        public var message: String

        public init(code: String, message: String) {
            self.code = code
            self.message = message
        }
    }

    public var error: Detail

    public init(code: String, message: String) {
        self.error = Detail(code: code, message: message)
    }
}
