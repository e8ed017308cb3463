import AgentAPI
import ArgumentParser
import CommandLineSupport
import CustomerAPI
import Foundation
import HTTPServing
import Hummingbird
import Logging
import Quiesce
import ServiceLifecycle
import UnixSignals

/// `felhom-controller run`: recover, then the quiesce loop and the customer API until SIGTERM.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Recover a crashed cycle, then run the quiesce loop and the customer API until SIGTERM.",
        discussion: "SIGTERM or SIGINT restarts any stacks a cycle holds down before the process exits."
    )

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await reportingFailures {
            let config = try options.loadConfig()
            let logger = Logger(label: "felhom-controller")
            let runtime = try ControllerRuntime(config: config, logger: logger)
            // Before recovery: a wrong mount would bring the marker's stacks back on the wrong data.
            try await runtime.verifyStacksMount()
            let cycle = runtime.cycle

            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            let loopRuns = runtime.agent != nil && config.quiesce.enabled
            do {
                if loopRuns {
                    // The loop recovers first. A rollback's recovery may wait long for the agent, and the
                    // customer API must answer meanwhile (GET /api/backup says why), refusing the held stacks.
                    if try cycle.holdPendingMarker() {
                        logger.notice("a crashed cycle's marker was found; the quiesce loop finishes it first")
                    }
                } else if let record = try await cycle.recover() {
                    // No loop: Recover() comes before anything else, so a crashed cycle's stacks are up first.
                    logger.notice("recovered a crashed cycle", metadata: ["cycle": "\(record.id)", "stacks": "\(record.stacks.joined(separator: ","))"])
                }
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            let rollbacks = RollbackRequests()
            if let api = config.api {
                let token: String
                do {
                    token = try ControllerConfig.readToken(api.tokenFile, key: "api.token_file")
                } catch {
                    throw CommandFailure(message: "\(error)", exitCode: CommandFailure.configExitCode)
                }
                let router = CustomerAPI(
                    catalog: runtime.catalog, operations: runtime.operations, state: runtime.state,
                    cycles: runtime.cycles, agent: runtime.agent, rollbacks: loopRuns ? rollbacks : nil
                ).router(token: token)
                let hardening = ServerHardening(
                    limits: api.connections, budget: DescriptorBudget.current(configuredCap: api.connections.maxConnections), logger: logger)
                hardening.logLimits()
                let application = Application(
                    router: router,
                    server: .http1(configuration: hardening.http1(tls: false)),
                    configuration: hardening.serverConfiguration(address: .hostname(api.host, port: api.port)),
                    onServerRunning: { channel in
                        logger.notice("customer API listening", metadata: ["port": "\(channel.localAddress?.port ?? 0)"])
                    },
                    logger: logger)
                services.append(.init(service: application))
            }
            if loopRuns {
                // Last in the list, so graceful shutdown reaches it first: stacks come back before the API goes.
                services.append(.init(service: QuiesceLoop(cycle: cycle, rollbacks: rollbacks, logger: logger)))
            } else {
                logger.notice("quiesce loop off: the config has no `agent` section or quiesce.enabled is false")
            }
            guard !services.isEmpty else {
                throw CommandFailure(message: "nothing to run: configure `api`, or `agent` with quiesce enabled")
            }
            let group = ServiceGroup(configuration: .init(
                services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
            do {
                try await group.run()
            } catch {
                if let api = config.api, let message = ListenFailure.message(for: error, host: api.host, port: api.port) {
                    throw CommandFailure(message: message, exitCode: CommandFailure.configExitCode)
                }
                throw CommandFailure(message: "\(error)")
            }
        }
    }
}

/// `felhom-controller recover`: run Recover() once and say what it restarted.
struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Restart the stacks a crashed quiesce cycle left down, and clear its marker.",
        discussion: """
            A rollback cycle's stacks come back only once the agent says its rollback op is final, so \
            the apps never run while the agent may still swap their data dir; while the agent cannot \
            be reached this waits. --force restarts them without asking the agent: use it only when \
            the agent is gone for good, or you know its op has ended. \
            --json prints {"recovered": bool, "cycle_id", "stacks", "backup_id"}.
            """
    )

    @OptionGroup var options: GlobalOptions

    @Flag(help: "Restart a rollback cycle's stacks without waiting for the agent's rollback op to be final.")
    var force = false

    struct Output: Encodable {
        var recovered: Bool
        var cycleID: String?
        var stacks: [String]
        var backupID: String?

        enum CodingKeys: String, CodingKey {
            case recovered, stacks
            case cycleID = "cycle_id"
            case backupID = "backup_id"
        }
    }

    func run() async throws {
        try await reportingFailures {
            let runtime = try ControllerRuntime(config: try options.loadConfig(), logger: Logger(label: "felhom-controller"))
            try await runtime.verifyStacksMount()
            let record: CycleRecord?
            do {
                record = try await runtime.cycle.recover(force: force)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            let output = Output(recovered: record != nil, cycleID: record?.id, stacks: record?.stacks ?? [], backupID: record?.backupID)
            if options.json {
                print(try CommandLineJSON.render(output))
            } else if let record {
                print("restarted \(record.stacks.joined(separator: ", ")) from cycle \(record.id); marker cleared")
            } else {
                print("no marker: nothing to recover")
            }
        }
    }
}

/// `felhom-controller cycles`: the cycle records.
struct CyclesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cycles",
        abstract: "List the quiesce cycles, newest first.",
        discussion: "--json prints an array of {id, started_at, finished_at, stacks, backup_id, phase_reached, consistency, outcome, error, downtime_ms}."
    )

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await reportingFailures {
            let runtime = try ControllerRuntime(config: try options.loadConfig(), logger: Logger(label: "felhom-controller"))
            let records = try runtime.cycles.recent(limit: 1000)
            if options.json {
                print(try CommandLineJSON.render(records))
                return
            }
            let rows = records.map { record in
                [record.id, record.outcome.rawValue, record.phaseReached?.rawValue ?? "", record.consistency?.rawValue ?? "",
                 record.stacks.joined(separator: ","), record.downtimeMs.values.max().map { "\($0)" } ?? "", record.error ?? ""]
            }
            print(TextTable(header: ["CYCLE", "OUTCOME", "PHASE", "CONSISTENCY", "STACKS", "MAX_DOWN_MS", "ERROR"], rows: rows).rendered)
        }
    }
}
