import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Puts PVE's reason phrases on the wire.
///
/// pveproxy sends the first line of an error message as the HTTP reason phrase (`500 CT 101 already running`).
/// Hummingbird answers in swift-http-types, and NIO's conversion to HTTP/1 replaces the phrase of every known
/// status code with the standard one. So the responder names the phrase in a private header, and
/// ``ReasonPhraseWriter``, placed below that conversion, moves it into the status line.
enum ReasonPhrase {
    /// The private header; it never leaves the fake.
    static let header = "x-proxmox-fake-reason"
}

/// Added by Hummingbird after its HTTP/1 codec; on being added it puts a ``ReasonPhraseWriter`` in front of
/// the codec, where responses are already NIO HTTP/1 heads, and otherwise passes everything through.
final class ReasonPhraseInstaller: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart

    func handlerAdded(context: ChannelHandlerContext) {
        do {
            let codec = try context.pipeline.syncOperations.handler(type: HTTP1ToHTTPServerCodec.self)
            try context.pipeline.syncOperations.addHandler(ReasonPhraseWriter(), position: .before(codec))
        } catch {
            context.fireErrorCaught(error)
        }
    }
}

/// Rewrites a response head's status to carry the phrase from ``ReasonPhrase/header``.
final class ReasonPhraseWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard case .head(var head) = unwrapOutboundIn(data), let phrase = head.headers.first(name: ReasonPhrase.header),
              !phrase.isEmpty else {
            context.write(data, promise: promise)
            return
        }
        head.headers.remove(name: ReasonPhrase.header)
        head.status = .custom(code: head.status.code, reasonPhrase: phrase)
        context.write(wrapOutboundOut(.head(head)), promise: promise)
    }
}
