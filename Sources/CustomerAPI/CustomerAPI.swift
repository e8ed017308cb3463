import AgentAPI
import Foundation
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

    public init(catalog: StackCatalog, operations: StackOperations, state: QuiesceState, cycles: CycleStore?, agent: (any BackupAgent)?) {
        self.catalog = catalog
        self.operations = operations
        self.state = state
        self.cycles = cycles
        self.agent = agent
    }

    /// The router, with `/healthz` open and everything under `/api` behind the token.
    public func router(token: String) -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: APIErrorMiddleware())
        router.get("/healthz") { _, _ in Self.json(["status": "ok"]) }
        let api = router.group("api").add(middleware: APITokenMiddleware(token: Array(token.utf8)))
        api.get("stacks") { _, _ in Self.json(try await catalog.list()) }
        for operation in [StackOperation.start, .stop, .restart] {
            api.post("stacks/:name/\(operation.rawValue)") { _, context in
                try await perform(operation, on: context.parameters.get("name") ?? "")
            }
        }
        api.get("backup") { _, _ in try await backupState() }
        return router
    }

    func perform(_ operation: StackOperation, on name: String) async throws -> Response {
        guard StackName(name) != nil else {
            throw APIError(status: .badRequest, code: "invalid_name", message: "\"\(name)\" is not a stack name (^[a-z0-9][a-z0-9_-]{0,62}$)")
        }
        if state.holds(name) {
            throw APIError(status: .conflict, code: "quiescing", message: "\(name) is stopped for a backup right now and restarts by itself when it is done; try again in a few minutes")
        }
        let info = try await catalog.info(name)
        if info.protected {
            throw APIError(status: .forbidden, code: "protected", message: "\(name) is protected infrastructure; it cannot be changed through this API")
        }
        try await operations.perform(operation, on: name)
        return Self.json(try await catalog.info(name))
    }

    struct BackupState: Encodable {
        var state: String
        var stacks: [String]
        var since: Date?
        var cycles: [CycleRecord]
        var agentLatest: BackupStatus?
        var agentError: String?

        enum CodingKeys: String, CodingKey {
            case state, stacks, since, cycles
            case agentLatest = "agent_latest"
            case agentError = "agent_error"
        }

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(state, forKey: .state)
            try container.encode(stacks, forKey: .stacks)
            try container.encode(since, forKey: .since)
            try container.encode(cycles, forKey: .cycles)
            try container.encode(agentLatest, forKey: .agentLatest)
            try container.encode(agentError, forKey: .agentError)
        }
    }

    func backupState() async throws -> Response {
        var result = BackupState(state: "idle", stacks: [], since: nil, cycles: try cycles?.recent(limit: 10) ?? [], agentLatest: nil, agentError: nil)
        if case .quiescing(_, let stacks, let since) = state.snapshot {
            result.state = "quiescing"
            result.stacks = stacks
            result.since = since
        }
        if let agent {
            do {
                result.agentLatest = try await agent.backupStatus(backupID: nil)
            } catch {
                result.agentError = "\(error)"
            }
        } else {
            result.agentError = "no agent is configured"
        }
        return Self.json(result)
    }

    static func json(_ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
