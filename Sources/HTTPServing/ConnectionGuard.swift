import Logging
import NIOCore
import NIOHTTPTypes
import NIOTLS

/// Per connection: refuses a peer over its cap, and closes a connection whose TLS handshake
/// or request takes longer than its limit.
///
/// Hummingbird's idle timeout covers the time from connect (or the last answer) to a request
/// head. It does not cover a head that arrives and a body that never ends, and it counts a
/// TLS handshake as idle time; this handler adds those two deadlines.
final class ConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let peers: PeerConnections
    private let handshakeTimeout: TimeAmount?
    private let requestTimeout: TimeAmount
    private let logger: Logger
    private var handshakeDeadline: Scheduled<Void>?
    private var requestDeadline: Scheduled<Void>?

    init(peers: PeerConnections, handshakeTimeout: TimeAmount?, requestTimeout: TimeAmount, logger: Logger) {
        self.peers = peers
        self.handshakeTimeout = handshakeTimeout
        self.requestTimeout = requestTimeout
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if let peer = context.channel.remoteAddress?.ipAddress {
            guard peers.open(peer) else {
                logger.debug("connection refused: its address is at connections.max_per_peer", metadata: ["peer": "\(peer)"])
                context.close(promise: nil)
                return
            }
            context.channel.closeFuture.whenComplete { [peers] _ in peers.close(peer) }
        }
        if let handshakeTimeout {
            handshakeDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: handshakeTimeout) { [logger] in
                logger.debug("connection closed: no TLS handshake within connections.tls_handshake_timeout_seconds")
                context.close(promise: nil)
            }
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        handshakeDeadline?.cancel()
        requestDeadline?.cancel()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            handshakeDeadline?.cancel()
            handshakeDeadline = nil
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head:
            requestDeadline?.cancel()
            requestDeadline = context.eventLoop.assumeIsolated().scheduleTask(in: requestTimeout) { [logger] in
                logger.debug("connection closed: the request was not read within connections.request_timeout_seconds")
                context.close(promise: nil)
            }
        case .end:
            requestDeadline?.cancel()
            requestDeadline = nil
        case .body:
            break
        }
        context.fireChannelRead(data)
    }
}
