import Hummingbird
import HummingbirdCore
import Logging
import NIOCore

/// One HTTP server's connection limits, turned into Hummingbird's configuration.
///
/// The server stops accepting at its cap and accepts again as connections close; what waits
/// meanwhile waits in the kernel's backlog, not in this process's descriptors. When `accept`
/// fails for want of descriptors anyway, NIO's `AcceptBackoffHandler`, which every server
/// bootstrap installs, waits a second before it tries again instead of spinning.
public struct ServerHardening: Sendable {
    public let limits: ConnectionLimits
    public let budget: DescriptorBudget
    let peers: PeerConnections
    let logger: Logger

    public init(limits: ConnectionLimits, budget: DescriptorBudget, logger: Logger) {
        self.limits = limits
        self.budget = budget
        self.peers = PeerConnections(cap: limits.maxConnectionsPerPeer)
        self.logger = logger
    }

    /// The HTTP/1 channel: the idle timeout, plus the request (and with `tls`, handshake) deadlines and the per-peer cap.
    public func http1(tls: Bool) -> HTTP1Channel.Configuration {
        let peers = self.peers
        let handshake = tls ? TimeAmount(limits.tlsHandshakeTimeout) : nil
        let request = TimeAmount(limits.requestTimeout)
        let logger = self.logger
        return HTTP1Channel.Configuration(
            additionalChannelHandlers: [ConnectionGuard(peers: peers, handshakeTimeout: handshake, requestTimeout: request, logger: logger)],
            idleTimeout: TimeAmount(limits.idleTimeout))
    }

    /// The server's bind address and its overall connection cap.
    public func serverConfiguration(address: BindAddress) -> ApplicationConfiguration {
        ApplicationConfiguration(
            address: address, serverName: nil,
            availableConnectionsDelegate: MaximumAvailableConnections(budget.connectionCap, logger: logger))
    }

    /// One line at startup with the limits in force, and a warning when the descriptor limit is low.
    public func logLimits() {
        logger.info("connection limits", metadata: [
            "max": "\(budget.connectionCap)", "max_per_peer": "\(limits.maxConnectionsPerPeer.map(String.init) ?? "none")",
            "idle_timeout": "\(limits.idleTimeout)", "request_timeout": "\(limits.requestTimeout)",
            "tls_handshake_timeout": "\(limits.tlsHandshakeTimeout)", "open_file_limit": "\(budget.limit)",
        ])
        if let warning = budget.warning {
            logger.warning("\(warning)")
        }
    }
}
