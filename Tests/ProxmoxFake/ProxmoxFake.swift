import Foundation
import HostAgent
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import NIOSSL
import Synchronization

/// A contract fake of one Proxmox VE node's API, served over real HTTPS on loopback.
///
/// It follows `research/proxmox-api.md`: the wire format, token auth, UPIDs, task status and logs, vzdump
/// with its global lock and its `vzdump` snapshot, restores, and a fake `pct` for what only the host can do.
/// Backups are real `tar` archives of real directories, so a restore test can compare trees.
public final class ProxmoxFake: Sendable {
    /// The node's name, in paths and UPIDs.
    public let node: String
    /// The one backup storage, a directory storage whose dump dir is `directory/dump`.
    public let storage: String
    /// `felhom@pve!agent`
    public let tokenID: String
    /// The token's secret: a random UUID string.
    public let tokenSecret: String

    let directory: String
    let state = Mutex(FakeState())
    private let runtime = Mutex(Runtime())
    private let identityPin: String

    private struct Runtime: Sendable {
        var port = 0
        var server: Task<Void, Never>?
        var jobs: AsyncStream<@Sendable () async -> Void>.Continuation?
    }

    /// Makes the node's directories, its TLS identity and the fake `pct`.
    /// - Parameter directory: the fake's scratch root: root directories, the dump dir, TLS files, `bin/pct`.
    public init(directory: String, node: String = "pve1", storage: String = "local") throws {
        self.directory = directory
        self.node = node
        self.storage = storage
        tokenID = "felhom@pve!agent"
        tokenSecret = UUID().uuidString.lowercased()
        for sub in ["dump", "images", "snapshots", "tmp", "tls", "bin"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        identityPin = try TLSIdentity(directory: directory + "/tls").generate(hostnames: [], force: true)
        try FakePct.install(at: pctPath)
    }

    /// Serves on 127.0.0.1 at a random port in a background task; returns once it listens.
    public func start() async throws {
        let identity = TLSIdentity(directory: directory + "/tls")
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(identity.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: identity.keyPath, format: .pem)))
        let (jobs, continuation) = AsyncStream<@Sendable () async -> Void>.makeStream()
        let application = Application(
            responder: ProxmoxResponder(fake: self),
            server: try .tls(.http1(configuration: .init(additionalChannelHandlers: [ReasonPhraseInstaller()])), tlsConfiguration: tls),
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: nil),
            onServerRunning: { [weak self] channel in self?.runtime.withLock { $0.port = channel.localAddress?.port ?? 0 } },
            logger: Self.serverLogger)
        // Workers run in the server's task group, so `stop()` ends them with it.
        let server = Task {
            await withDiscardingTaskGroup { group in
                group.addTask {
                    do {
                        try await application.runService(gracefulShutdownSignals: [])
                    } catch {
                        FileHandle.standardError.write(Data("ProxmoxFake server ended: \(error)\n".utf8))
                    }
                }
                for await job in jobs {
                    group.addTask { await job() }
                }
                group.cancelAll()
            }
        }
        runtime.withLock {
            $0.server = server
            $0.jobs = continuation
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: .seconds(120))
        while runtime.withLock({ $0.port }) == 0 {
            guard clock.now < deadline else { throw FakeSetupError("ProxmoxFake did not start listening within 120 s") }
            try await Task.sleep(for: .milliseconds(10))
        }
        try FakePct.writeEndpoint(
            at: directory + "/bin/pct-endpoint.json", url: apiURL, pin: pin, authorization: authorizationValue)
    }

    /// Hummingbird logs the cancellation that `stop()` uses as errors; only its critical messages help a test reader.
    private static var serverLogger: Logger {
        var logger = Logger(label: "ProxmoxFake")
        logger.logLevel = .critical
        return logger
    }

    /// Stops serving and ends every running worker, as if the node went away.
    public func stop() async {
        let (server, jobs) = runtime.withLock { ($0.server, $0.jobs) }
        jobs?.finish()
        server?.cancel()
        await server?.value
        runtime.withLock {
            $0.server = nil
            $0.jobs = nil
        }
    }

    /// Runs `job` among the server's workers.
    func spawn(_ job: @escaping @Sendable () async -> Void) {
        _ = runtime.withLock { $0.jobs?.yield(job) }
    }

    /// `https://127.0.0.1:PORT`; clients append `/api2/json/…`.
    public var apiURL: String { "https://127.0.0.1:\(runtime.withLock { $0.port })" }
    /// `sha256//BASE64` of the leaf's SubjectPublicKeyInfo.
    public var pin: String { identityPin }
    /// The self-signed certificate (SANs 127.0.0.1 and localhost), for clients that trust a CA file.
    public var caFile: String { TLSIdentity(directory: directory + "/tls").certificatePath }
    /// What the agent's token file holds: `felhom@pve!agent=SECRET`.
    public var tokenFileContents: String { "\(tokenID)=\(tokenSecret)" }
    /// The `Authorization` header value for the token.
    var authorizationValue: String { "PVEAPIToken=\(tokenFileContents)" }
    /// An executable fake `pct` (a python3 script) that asks this fake over HTTPS.
    public var pctPath: String { directory + "/bin/pct" }
    var dumpDirectory: String { directory + "/dump" }

    /// Sets the vzdump timing: from a guest's start in the task to the snapshot (or stop, or final sync),
    /// and from there to the archive's rename. Running tasks read it afresh, so a test can hold a backup
    /// mid-archive with a long `archiveFor` and release it by setting a short one.
    public func setTiming(snapshotAfter: Duration, archiveFor: Duration) {
        state.withLock {
            $0.snapshotAfter = snapshotAfter
            $0.archiveFor = archiveFor
        }
    }

    /// Adds a fault; see ``FakeFault`` for how long each lasts.
    public func inject(_ fault: FakeFault) {
        state.withLock { state in
            if case .globalLock(let seconds) = fault {
                state.externalLockUntil = ContinuousClock.now.advanced(by: .milliseconds(Int(seconds * 1000)))
            } else {
                state.faults.append(fault)
            }
        }
    }

    /// Removes every fault, the foreign vzdump lock included.
    public func clearFaults() {
        state.withLock {
            $0.faults = []
            $0.externalLockUntil = nil
        }
    }
}
