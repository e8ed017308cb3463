/// Where the agent is and how the controller proves who it is talking to.
public struct AgentClientConfiguration: Sendable {
    /// `https://host:port`, without a trailing path.
    public var baseURL: String
    /// The agent leaf's SPKI pin, `sha256//BASE64`, as `felhom-agent init` prints it.
    public var pin: String
    /// The guest's bearer token.
    public var token: String
    /// How long to wait for the TCP and TLS handshake.
    public var connectTimeout: Duration
    /// How long one whole call may take.
    public var totalTimeout: Duration
    /// The largest answer read; anything larger fails the call.
    public var responseLimit: Int

    /// Validates the URL and the pin, so a bad config fails at startup, not at the first backup.
    public init(
        baseURL: String, pin: String, token: String,
        connectTimeout: Duration = .seconds(5), totalTimeout: Duration = .seconds(30),
        responseLimit: Int = 1 << 20
    ) throws(AgentClientError) {
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard trimmed.lowercased().hasPrefix("https://"), trimmed.count > "https://".count else {
            throw .invalidConfiguration("agent url `\(baseURL)` must start with https://; the agent is only spoken to over TLS")
        }
        guard Self.isValidPin(pin) else {
            throw .invalidConfiguration("agent pin `\(pin)` must be sha256// followed by the base64 SHA-256 of the leaf's public key")
        }
        guard !token.isEmpty, !token.contains(where: { $0.isNewline || $0.isWhitespace }) else {
            throw .invalidConfiguration("the agent token is empty or contains whitespace")
        }
        self.baseURL = trimmed
        self.pin = pin
        self.token = token
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.responseLimit = responseLimit
    }

    /// A SHA-256 digest is 32 bytes: 44 base64 characters ending in one `=`.
    static func isValidPin(_ pin: String) -> Bool {
        guard pin.hasPrefix("sha256//") else { return false }
        let encoded = pin.dropFirst("sha256//".count)
        let alphabet = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        return encoded.count == 44 && encoded.hasSuffix("=") && encoded.dropLast().allSatisfy(alphabet.contains)
    }
}
