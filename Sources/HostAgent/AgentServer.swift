import DurableFiles
import Foundation
import HTTPServing
import Hummingbird
import HummingbirdTLS
import Logging
import NIOCore
import ServiceLifecycle
import UnixSignals

/// The running agent: startup recovery, then the HTTPS API and the backup runner under one service group.
public struct AgentServer: Sendable {
    public let configuration: AgentConfiguration
    public let logger: Logger

    public init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// Runs until SIGTERM or SIGINT. Nothing is served before interrupted ops are resolved,
    /// and nothing is resolved before this process holds the state dir alone.
    public func run() async throws {
        try Self.requireWritableDirectory(configuration.stateDirectory, .stateDirectory, create: false)
        let stateLock = try StateDirectoryLock.acquire(stateDirectory: configuration.stateDirectory)
        defer { withExtendedLifetime(stateLock) {} }
        let identity = configuration.identity
        guard identity.exists else {
            throw AgentStartupError(.identity, path: identity.keyPath, reason: "is missing")
        }
        try Self.requireWritableDirectory(configuration.repository, .repository, create: true)
        // Two agents with their own state dirs but one repository would sweep each other's partial archives.
        let sameDirectory = URL(fileURLWithPath: configuration.repository).standardizedFileURL == URL(fileURLWithPath: configuration.stateDirectory).standardizedFileURL
        let repositoryLock = sameDirectory ? nil : try StateDirectoryLock.acquire(stateDirectory: configuration.repository)
        defer { withExtendedLifetime(repositoryLock) {} }
        let tightened = try PrivateState.prepareDirectory(configuration.stateDirectory)
        let store = try AgentStore(path: configuration.databasePath)
        for change in tightened + store.tightenedModes {
            logger.notice("tightened the mode of private state", metadata: ["change": "\(change)"])
        }
        let backend = try configuration.makeBackend(logger: logger)
        let report = try await StartupRecovery(store: store, backend: backend, logger: logger).run()
        logger.info("startup recovery done", metadata: [
            "resolved_ops": "\(report.resolvedOps.count)", "removed_files": "\(report.removedFiles.count)",
            "removed_backups": "\(report.removedBackups.count)", "adopted_backups": "\(report.adoptedBackups.count)", "unknown_backups": "\(report.unknownBackups.count)",
            "rollbacks": "\(report.rollbacks.map { "\($0.key)=\($0.value)" }.joined(separator: ","))",
            "removed_restore_test_leftovers": "\(report.removedRestoreTestLeftovers.count)",
        ])

        let restoreTests = RestoreTestRunner(store: store, backend: backend, logger: logger)

        let coordinator = BackupCoordinator(
            store: store, backend: backend, retention: configuration.retention,
            dailyLimit: configuration.backupsPerDay, logger: logger)
        coordinator.resume(report.resumableBackups)
        let rollbacks = RollbackCoordinator(store: store, backend: backend, logger: logger)
        let router = Router(context: AgentRequestContext.self, options: .autoGenerateHeadEndpoints)
        router.add(middleware: ErrorBodyMiddleware())
        router.add(middleware: RequireJSONBody { status, code, message in
            AgentHTTPError(status: status, code: code, message: message).response
        })
        AgentRoutes(
            store: store, coordinator: coordinator, rollbacks: rollbacks,
            restoreTestInterval: configuration.restoreTestInterval ?? .seconds(86400), dailyLimit: configuration.backupsPerDay,
            now: Date.init
        ).register(on: router)
        // Last: it sees every route, and wraps only the answer for a request that matched none.
        router.add(middleware: MethodNotAllowed(routes: router.routes) { status, code, message in
            AgentHTTPError(status: status, code: code, message: message).response
        })
        let hardening = ServerHardening(
            limits: configuration.connections,
            budget: DescriptorBudget.current(configuredCap: configuration.connections.maxConnections), logger: logger)
        hardening.logLimits()

        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMFile(identity.certificatePath).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(file: identity.keyPath, format: .pem)))
        // A closed connection keeps its descriptor until the peer answers our close_notify or this
        // runs out; NIOSSL's 5 s default let a peer that never answers hold it past the idle timeout.
        tls.shutdownTimeout = .seconds(2)
        let logger = self.logger
        let application = Application(
            router: router,
            server: try .tls(.http1(configuration: hardening.http1(tls: true)), tlsConfiguration: tls),
            configuration: hardening.serverConfiguration(address: .hostname(configuration.listenHost, port: configuration.listenPort)),
            onServerRunning: { channel in
                // Tests and scripts wait for this line; with port 0 it carries the real port.
                logger.notice("listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")", "port": "\(channel.localAddress?.port ?? 0)"])
            },
            logger: logger)
        var services: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: coordinator), .init(service: rollbacks), .init(service: application),
        ]
        if let interval = configuration.restoreTestInterval {
            services.append(.init(service: RestoreTestScheduler(runner: restoreTests, store: store, interval: interval, logger: logger)))
        }
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
    }

    /// Refuses a path that is not a directory this process can write; every backup would fail later otherwise.
    static func requireWritableDirectory(_ path: String, _ code: AgentStartupError.Code, create: Bool) throws(AgentStartupError) {
        var isDirectory: ObjCBool = false
        if !FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard create else { throw AgentStartupError(code, path: path, reason: "does not exist") }
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw AgentStartupError(code, path: path, reason: "cannot be created (\(error.localizedDescription))")
            }
            return
        }
        guard isDirectory.boolValue else { throw AgentStartupError(code, path: path, reason: "is not a directory") }
        guard access(path, W_OK | X_OK) == 0 else { throw AgentStartupError(code, path: path, reason: "is not writable by this user") }
    }
}
