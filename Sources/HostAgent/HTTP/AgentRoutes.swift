import AgentAPI
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// The agent API's handlers. Each acts only on the guest the token names.
struct AgentRoutes: Sendable {
    let store: AgentStore
    let coordinator: BackupCoordinator
    let rollbacks: RollbackCoordinator
    let restoreTestInterval: Duration
    /// `limits.backups_per_day`; `nil` for none.
    let dailyLimit: Int?
    let now: @Sendable () -> Date

    func register(on router: Router<AgentRequestContext>) {
        router.get("/healthz") { _, _ in JSONResponse.make(["status": "ok", "version": ProductVersion.current]) }
        let guarded = router.group().add(middleware: BearerAuthMiddleware(store: store))
        guarded.get("/backup/due") { _, context in try backupDue(context) }
        guarded.post("/backup") { request, context in try await startBackup(request, context) }
        guarded.post("/backup/prepare") { request, context in try prepareBackup(request, context) }
        guarded.get("/backup/status") { request, context in try backupStatus(request, context) }
        guarded.post("/backup/resumed") { request, context in try await backupResumed(request, context) }
        guarded.get("/backups") { _, context in try backups(context) }
        guarded.get("/rollback/preflight") { request, context in try await rollbackPreflight(request, context) }
        guarded.post("/rollback") { request, context in try await startRollback(request, context) }
        guarded.get("/rollback/status") { request, context in try rollbackStatus(request, context) }
        guarded.post("/rollback/cancel") { request, context in try await cancelRollback(request, context) }
        guarded.get("/restore-test/status") { _, context in try restoreTestStatus(context) }
    }

    func backupDue(_ context: AgentRequestContext) throws -> Response {
        let guest = try context.requireGuest()
        var due = BackupSchedule.due(guest: guest, lastSuccess: try store.lastSuccessfulBackup(guest: guest.name), now: now())
        // Not due while POST /backup would refuse it: the controller stops its stacks before it asks.
        if due.due, let limit = dailyLimit, let next = try store.nextAllowedStart(guest: guest.name, dailyLimit: limit, now: now()) {
            due = BackupDue(due: false, reason: nil, nextDueAt: next, lastBackupAt: due.lastBackupAt)
        }
        // Nor while the last one still archives after its window: its guest already runs again, and a
        // new cycle would stop the apps only to be refused.
        if due.due, try store.hasBackupPastWindow(guest: guest.name) {
            due = BackupDue(due: false, reason: nil, nextDueAt: nil, lastBackupAt: due.lastBackupAt)
        }
        return JSONResponse.make(due)
    }

    func startBackup(_ request: Request, _ context: AgentRequestContext) async throws -> Response {
        let guest = try context.requireGuest()
        let key = try Self.idempotencyKey(request, route: "POST /backup")
        var request = request
        let body = try await request.decodeJSON(StartBackupRequest.self)
        if let prepareID = body.prepareID { _ = try Self.require(prepareID, .backup, field: "prepare_id") }
        return try answer(try coordinator.start(guest: guest, idempotencyKey: key, request: body), guest: guest)
    }

    /// `POST /backup/prepare`: the capture is made while the apps run; `GET /backup/status` says when it is `ready`.
    func prepareBackup(_ request: Request, _ context: AgentRequestContext) throws -> Response {
        let guest = try context.requireGuest()
        let key = try Self.idempotencyKey(request, route: "POST /backup/prepare")
        return try answer(try coordinator.prepare(guest: guest, idempotencyKey: key), guest: guest)
    }

    static func idempotencyKey(_ request: Request, route: String) throws -> String {
        guard let key = request.headers[.idempotencyKey], !key.isEmpty, key.count <= 200 else {
            throw AgentHTTPError.badRequest("\(route) needs an Idempotency-Key header (1 to 200 characters)")
        }
        return key
    }

    private func answer(_ outcome: BeginBackupOutcome, guest: GuestRecord) throws -> Response {
        switch outcome {
        case .created(let entry):
            return JSONResponse.make(StartBackupResponse(backupID: entry.backupID, phase: entry.status.phase), status: .accepted)
        case .existing(let entry):
            return JSONResponse.make(StartBackupResponse(backupID: entry.backupID, phase: entry.status.phase), status: .ok)
        case .conflict(let inFlightID):
            throw AgentHTTPError.conflict("backup \(inFlightID) of guest \(guest.name) is still in flight; wait for it to finish")
        case .limitReached(let limit, let next):
            throw AgentHTTPError(
                status: .tooManyRequests, code: AgentErrorCode.tooManyBackups,
                message: "guest \(guest.name) has started \(limit) backups in the last 24 hours, the agent's limits.backups_per_day; the next can start at \(next.formatted(.iso8601))")
        }
    }

    func backupStatus(_ request: Request, _ context: AgentRequestContext) throws -> Response {
        let guest = try context.requireGuest()
        if let raw = request.uri.queryParameters["backup_id"].map(String.init) {
            let id = try Self.require(raw, .backup, field: "backup_id")
            guard let entry = try store.backup(id, guest: guest.name) else {
                throw AgentHTTPError.notFound("no backup \(id) for guest \(guest.name)")
            }
            return JSONResponse.make(withWait(entry.status.forGuest))
        }
        guard let latest = try store.latestBackup(guest: guest.name) else {
            throw AgentHTTPError.notFound("guest \(guest.name) has no backups yet")
        }
        return JSONResponse.make(withWait(latest.status.forGuest))
    }

    private func withWait(_ status: BackupStatus) -> BackupStatus {
        var status = status
        if !status.phase.releasesGuest { status.waitingFor = coordinator.waitingFor(status.backupID) }
        return status
    }

    func backupResumed(_ request: Request, _ context: AgentRequestContext) async throws -> Response {
        let guest = try context.requireGuest()
        var request = request
        let body = try await request.decodeJSON(BackupResumedRequest.self)
        _ = try Self.require(body.backupID, .backup, field: "backup_id")
        guard let entry = try store.markResumed(body.backupID, guest: guest.name) else {
            throw AgentHTTPError.notFound("no backup \(body.backupID) for guest \(guest.name)")
        }
        context.logger.info("guest resumed during backup", metadata: [
            "backup_id": "\(entry.backupID)", "consistency": "\(entry.status.consistency.rawValue)",
        ])
        return JSONResponse.make(entry.status.forGuest)
    }

    func backups(_ context: AgentRequestContext) throws -> Response {
        let guest = try context.requireGuest()
        return JSONResponse.make(BackupList(backups: try store.listedBackups(guest: guest.name).map(\.status.forGuest)))
    }
}

extension AgentRoutes {
    func startRollback(_ request: Request, _ context: AgentRequestContext) async throws -> Response {
        let guest = try context.requireGuest()
        var request = request
        let body = try await request.decodeJSON(RollbackRequest.self)
        _ = try Self.require(body.backupID, .backup, field: "backup_id")
        let key = request.headers[.idempotencyKey]
        if let key, key.isEmpty || key.count > 200 {
            throw AgentHTTPError.badRequest("Idempotency-Key must be 1 to 200 characters")
        }
        do {
            let (opID, created) = try await rollbacks.start(guest: guest, backupID: body.backupID, idempotencyKey: key)
            return JSONResponse.make(RollbackStarted(opID: opID), status: created ? .accepted : .ok)
        } catch let refusal as RollbackCoordinator.Refusal {
            throw AgentHTTPError(refusal)
        }
    }

    func rollbackPreflight(_ request: Request, _ context: AgentRequestContext) async throws -> Response {
        let guest = try context.requireGuest()
        guard let raw = request.uri.queryParameters["backup_id"].map(String.init) else {
            throw AgentHTTPError.badRequest("GET /rollback/preflight needs ?backup_id=")
        }
        let backupID = try Self.require(raw, .backup, field: "backup_id")
        do {
            return JSONResponse.make(try await rollbacks.preflight(guest: guest, backupID: backupID))
        } catch let refusal as RollbackCoordinator.Refusal {
            throw AgentHTTPError(refusal)
        }
    }

    func rollbackStatus(_ request: Request, _ context: AgentRequestContext) throws -> Response {
        let guest = try context.requireGuest()
        guard let raw = request.uri.queryParameters["op_id"].map(String.init) else {
            guard let latest = try store.latestRollbackOp(guest: guest.name) else {
                throw AgentHTTPError.notFound("guest \(guest.name) has no rollbacks yet")
            }
            return JSONResponse.make(latest.rollbackStatus.forGuest)
        }
        let id = try Self.require(raw, .rollback, field: "op_id")
        guard let op = try store.rollbackOp(id, guest: guest.name) else {
            throw AgentHTTPError.notFound("no rollback \(id) for guest \(guest.name)")
        }
        return JSONResponse.make(op.rollbackStatus.forGuest)
    }
}

extension AgentRoutes {
    func cancelRollback(_ request: Request, _ context: AgentRequestContext) async throws -> Response {
        let guest = try context.requireGuest()
        var request = request
        let body = try await request.decodeJSON(RollbackCancelRequest.self)
        let opID = try Self.require(body.opID, .rollback, field: "op_id")
        do {
            return JSONResponse.make(try rollbacks.cancel(guest: guest, opID: opID).forGuest)
        } catch let refusal as RollbackCoordinator.Refusal {
            throw AgentHTTPError(refusal)
        }
    }
}

extension AgentRoutes {
    func restoreTestStatus(_ context: AgentRequestContext) throws -> Response {
        let guest = try context.requireGuest()
        guard let latest = try store.restoreTests(guest: guest.name).first else {
            return JSONResponse.make(RestoreTestStatus(backupID: nil, startedAt: nil, finishedAt: nil, result: nil, checks: [], nextDueAt: nil))
        }
        return JSONResponse.make(latest.status(interval: restoreTestInterval).forGuest)
    }
}

extension AgentRoutes {
    /// `raw` when it has the shape of a `kind` id; a 400 before any lookup otherwise.
    /// The message never echoes the value: it may hold control characters.
    static func require(_ raw: String, _ kind: AgentID.Kind, field: String) throws -> String {
        guard AgentID.isValid(raw, kind: kind) else {
            throw AgentHTTPError.badRequest("\(field) must look like \(AgentID.example(kind)) (\(AgentID.pattern(kind)))")
        }
        return raw
    }
}

extension HTTPField.Name {
    static let idempotencyKey = Self("Idempotency-Key")!
}
