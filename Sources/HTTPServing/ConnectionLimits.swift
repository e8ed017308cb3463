import ConfigFile

/// How long a connection may sit without progress, and how many may be open, for one HTTP server.
///
/// Each limit closes a way to hold a server's descriptors without a token: a bare TCP connect,
/// half a TLS handshake, a request head or body that never ends, an idle keep-alive.
///
/// ```yaml
/// connections:
///   tls_handshake_timeout_seconds: 10   # TLS servers only
///   idle_timeout_seconds: 30            # connect or last answer → the next request head
///   request_timeout_seconds: 60         # request head → the last byte of its body
///   max: 512                            # open at once, all peers; lowered to fit the descriptor limit
///   max_per_peer: 64                    # open at once from one IP address; 0 for no cap
/// ```
public struct ConnectionLimits: Sendable, Equatable {
    public var tlsHandshakeTimeout: Duration = .seconds(10)
    public var idleTimeout: Duration = .seconds(30)
    public var requestTimeout: Duration = .seconds(60)
    public var maxConnections: Int = 512
    /// `nil` for no per-peer cap.
    public var maxConnectionsPerPeer: Int? = 64

    public init() {}

    public static let configKeys: Set<String> = [
        "tls_handshake_timeout_seconds", "idle_timeout_seconds", "request_timeout_seconds", "max", "max_per_peer",
    ]

    /// The limits in `node`, a `connections:` mapping named `key` in the file; defaults for the keys it leaves out.
    public static func parse(_ node: ConfigNode, key: String, reader: ConfigReader) throws(ConfigError) -> ConnectionLimits {
        let section = try reader.mapping(node, key: key, allowed: configKeys)
        var limits = ConnectionLimits()
        if let node = section["tls_handshake_timeout_seconds"] {
            limits.tlsHandshakeTimeout = try reader.positiveSeconds(node, key: "\(key).tls_handshake_timeout_seconds")
        }
        if let node = section["idle_timeout_seconds"] {
            limits.idleTimeout = try reader.positiveSeconds(node, key: "\(key).idle_timeout_seconds")
        }
        if let node = section["request_timeout_seconds"] {
            limits.requestTimeout = try reader.positiveSeconds(node, key: "\(key).request_timeout_seconds")
        }
        if let node = section["max"] {
            limits.maxConnections = try reader.integer(node, key: "\(key).max", minimum: 1)
        }
        if let node = section["max_per_peer"] {
            let value = try reader.integer(node, key: "\(key).max_per_peer", minimum: 0)
            limits.maxConnectionsPerPeer = value == 0 ? nil : value
        }
        return limits
    }
}
