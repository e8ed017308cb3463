import AgentAPI
import Foundation
import HTTPServing
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Quiesce
import Stacks

/// The customer's local API: list stacks, start/stop/restart app stacks, see the backup state.
public struct CustomerAPI: Sendable {
    let catalog: StackCatalog
    let operations: StackOperations
    let state: QuiesceState
    let cycles: CycleStore?
    let agent: (any BackupAgent)?
    /// The quiesce loop's rollback channel; `nil` when the loop does not run.
    let rollbacks: RollbackRequests?

    public init(
        catalog: StackCatalog, operations: StackOperations, state: QuiesceState, cycles: CycleStore?,
        agent: (any BackupAgent)?, rollbacks: RollbackRequests?
    ) {
        self.catalog = catalog
        self.operations = operations
        self.state = state
        self.cycles = cycles
        self.agent = agent
        self.rollbacks = rollbacks
    }

    /// The router, with `/healthz` open and everything under `/api` behind the token.
    public func router(token: String) -> Router<BasicRequestContext> {
        let router = Router(options: .autoGenerateHeadEndpoints)
        router.add(middleware: APIErrorMiddleware())
        router.add(middleware: RequireJSONBody { status, code, message in
            APIError(status: status, code: code, message: message).response
        })
        router.get("/healthz") { _, _ in Self.json(["status": "ok", "version": ProductVersion.current]) }
        let api = router.group("api").add(middleware: APITokenMiddleware(token: Array(token.utf8)))
        api.get("stacks") { _, _ in Self.json(try await catalog.list()) }
        for operation in [StackOperation.start, .stop, .restart] {
            api.post("stacks/:name/\(operation.rawValue)") { _, context in
                try await perform(operation, on: context.parameters.get("name") ?? "")
            }
        }
        api.get("backup") { _, _ in try await backupState() }
        api.post("rollback") { request, context in try await rollback(request, context: context) }
        // Last: it sees every route, and wraps only the answer for a request that matched none.
        router.add(middleware: MethodNotAllowed(routes: router.routes) { status, code, message in
            APIError(status: status, code: code, message: message).response
        })
        return router
    }

    func perform(_ operation: StackOperation, on name: String) async throws -> Response {
        guard StackName(name) != nil else {
            throw APIError(status: .badRequest, code: "invalid_name", message: "\"\(name)\" is not a stack name (^[a-z0-9][a-z0-9_-]{0,62}$)")
        }
        do {
            return try await state.withCustomerOperation(on: name) {
                let info = try await catalog.info(name)
                if info.protected {
                    throw APIError(status: .forbidden, code: "protected", message: "\(name) is protected infrastructure; it cannot be changed through this API")
                }
                try await operations.perform(operation, on: name)
                return Self.json(try await catalog.info(name))
            }
        } catch let error as QuiesceError where error.code == .busy {
            throw APIError(status: .conflict, code: "quiescing", message: error.message)
        }
    }

    struct RollbackBody: Decodable {
        var backupID: String
        enum CodingKeys: String, CodingKey { case backupID = "backup_id" }
    }

    /// Hands a rollback to the quiesce loop and answers 202 once its cycle has claimed the loop;
    /// `GET /api/backup` shows how it went.
    func rollback(_ request: Request, context: some RequestContext) async throws -> Response {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: 64 * 1024)
        } catch is NIOTooManyBytesError {
            throw APIError(status: .contentTooLarge, code: "body_too_large", message: "the body is over 64 KiB")
        } catch {
            // A client that went away, or a malformed chunked body: its fault, not ours, so not a 500.
            context.logger.info("request body unreadable", metadata: ["error": "\(error)"])
            throw APIError(status: .badRequest, code: "bad_request", message: "the request body could not be read: it was cut off or malformed")
        }
        guard let body = try? JSONDecoder().decode(RollbackBody.self, from: Data(buffer.readableBytesView)) else {
            throw APIError(status: .badRequest, code: "bad_request", message: #"the body must be {"backup_id": "..."}"#)
        }
        guard AgentID.isValid(body.backupID, kind: .backup) else {
            throw APIError(status: .badRequest, code: "bad_request", message: "backup_id must look like \(AgentID.example(.backup)); nothing was stopped")
        }
        guard let agent else {
            throw APIError(status: .serviceUnavailable, code: "no_agent", message: "this controller has no agent configured")
        }
        if state.isCycleRunning {
            throw APIError(status: .conflict, code: "quiescing", message: "a backup or rollback is running; try again when it has finished")
        }
        // Asked here too, though the cycle asks again: its answer gives the caller a precise status.
        do {
            _ = try await agent.rollbackPreflight(backupID: body.backupID)
        } catch {
            context.logger.warning("rollback refused before anything was stopped", metadata: ["backup_id": "\(body.backupID)", "error": "\(error)"])
            switch error.httpStatus {
            case 404: throw APIError(status: .notFound, code: "unknown_backup", message: "this guest has no finished backup \(body.backupID); nothing was stopped")
            case 409: throw APIError(status: .conflict, code: "rollback_refused", message: "the agent cannot roll back to \(body.backupID) now: \(error); nothing was stopped")
            default: throw APIError(status: .badGateway, code: "agent_unreachable", message: "the host agent did not answer the pre-flight; nothing was stopped")
            }
        }
        guard let rollbacks else {
            throw APIError(status: .serviceUnavailable, code: "quiesce_off", message: "the quiesce loop is off (quiesce.enabled: false), so nothing runs a rollback; use `felhom-controller rollback`")
        }
        do {
            try await rollbacks.submit(backupID: body.backupID)
        } catch let error as QuiesceError {
            context.logger.warning("rollback refused", metadata: ["backup_id": "\(body.backupID)", "error": "\(error)"])
            switch error.code {
            case .cancelled: throw APIError(status: .serviceUnavailable, code: "shutting_down", message: error.message)
            case .busy: throw APIError(status: .conflict, code: "busy", message: error.message)
            case .agent: throw APIError(status: .badGateway, code: "agent_unreachable", message: error.message)
            default: throw APIError(status: .conflict, code: "rollback_refused", message: error.message)
            }
        }
        return Self.json(["backup_id": body.backupID, "state": "started"], status: .accepted)
    }

    struct BackupState: Encodable {
        var state: String
        var stacks: [String]
        var since: Date?
        var waiting: String?
        var cycles: [CycleRecord]
        var agentLatest: BackupStatus?
        var restoreTest: RestoreTestStatus?
        var agentError: String?

        enum CodingKeys: String, CodingKey {
            case state, stacks, since, waiting, cycles
            case restoreTest = "restore_test"
            case agentLatest = "agent_latest"
            case agentError = "agent_error"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(state, forKey: .state)
            try container.encode(stacks, forKey: .stacks)
            try container.encode(since, forKey: .since)
            try container.encode(waiting, forKey: .waiting)
            try container.encode(cycles, forKey: .cycles)
            try container.encode(agentLatest, forKey: .agentLatest)
            try container.encode(restoreTest, forKey: .restoreTest)
            try container.encode(agentError, forKey: .agentError)
        }
    }

    func backupState() async throws -> Response {
        var result = BackupState(
            state: "idle", stacks: [], since: nil, waiting: nil, cycles: try cycles?.recent(limit: 10) ?? [], agentLatest: nil,
            restoreTest: nil, agentError: nil)
        if case .quiescing(_, let stacks, let since) = state.snapshot {
            result.state = "quiescing"
            result.stacks = stacks
            result.since = since
            result.waiting = state.waitingReason
        }
        if let agent {
            do {
                // The agent only reports restore tests; the controller never runs them.
                result.restoreTest = try await agent.restoreTestStatus()
                result.agentLatest = try await agent.backupStatus(backupID: nil)
            } catch AgentClientError.http(404, _, _) {
                result.agentLatest = nil
            } catch {
                result.agentError = "\(error)"
            }
        } else {
            result.agentError = "no agent is configured"
        }
        return Self.json(result)
    }

    static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
