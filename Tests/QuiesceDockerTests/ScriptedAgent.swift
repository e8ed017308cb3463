import AgentAPI
import Foundation
import Hummingbird
import HummingbirdTLS
import NIOCore
import NIOSSL
import ServiceLifecycle
import TestSupport

/// An agent over real HTTPS, with the real agent's key, that answers `POST /backup` with 500.
///
/// The real agent never fails that way on purpose, so this is how the
/// controller's handling of a broken agent is exercised end to end.
struct ScriptedAgent {
    let identity: AgentHarness

    /// Serves until `body` returns; `body` gets the base URL.
    func serve(_ body: @Sendable (String) async throws -> Void) async throws {
        let router = Router()
        router.get("/backup/due") { _, _ in
            Self.json(#"{"due":true,"last_backup_at":null,"next_due_at":null,"reason":"never_backed_up"}"#)
        }
        router.post("/backup") { _, _ in
            Self.json(#"{"error":{"code":"internal_error","message":"scripted failure"}}"#, status: .internalServerError)
        }
        let stateDirectory = identity.root.path + "/state/tls"
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(stateDirectory + "/agent-cert.pem").map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: stateDirectory + "/agent-key.pem", format: .pem)))
        let port = PortBox()
        let application = Application(
            router: router, server: try .tls(.http1(), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { port.set($0.localAddress?.port ?? 0) })
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await application.runService(gracefulShutdownSignals: []) }
            _ = await eventually { port.value != 0 }
            try await body("https://127.0.0.1:\(port.value)")
            group.cancelAll()
        }
    }

    static func json(_ text: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

private final class PortBox: @unchecked Sendable {
    private let lock = NSLock()
    private var port = 0
    var value: Int { lock.withLock { port } }
    func set(_ value: Int) { lock.withLock { port = value } }
}
