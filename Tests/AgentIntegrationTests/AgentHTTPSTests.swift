import AgentAPI
import Foundation
import Stacks
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("The agent API over real HTTPS on loopback")
struct AgentHTTPSTests {
    /// One agent with two guests and small data dirs.
    struct Setup {
        let agent: AgentHarness
        let alpha: AgentClient
        let beta: AgentClient
        let alphaToken: String
    }

    func setUp() async throws -> Setup {
        let agent = try await AgentHarness()
        for name in ["alpha", "beta"] {
            try agent.root.write("data/\(name)/file.txt", Array("\(name)\n".utf8))
        }
        let alphaToken = try await agent.addGuest("alpha", dataDirectory: agent.root.path + "/data/alpha")
        let betaToken = try await agent.addGuest("beta", dataDirectory: agent.root.path + "/data/beta")
        try await agent.start()
        return Setup(agent: agent, alpha: try agent.client(token: alphaToken), beta: try agent.client(token: betaToken), alphaToken: alphaToken)
    }

    func errorCode(_ body: [UInt8]) -> String? {
        (try? AgentJSON.decoder().decode(AgentErrorBody.self, from: Data(body)))?.error.code
    }

    @Test("the right pin connects; a wrong pin fails at the handshake and the agent never sees the request")
    func pinning() async throws {
        let setup = try await setUp()
        let due = try await setup.alpha.backupDue()
        #expect(due.due && due.reason == .neverBackedUp)

        let wrongPin = "sha256//" + Data(repeating: 0, count: 32).base64EncodedString()
        let impostor = try setup.agent.client(token: setup.alphaToken, pin: wrongPin)
        await #expect(throws: AgentClientError.pinMismatch(url: setup.agent.baseURL + "/backup/due")) {
            _ = try await impostor.backupDue()
        }
        try await setup.alpha.health()
        // Every request the agent handles is logged; the wrong-pin call is not among them.
        let handled = setup.agent.log.split(separator: "\n").filter { $0.contains("path=/backup/due") }
        #expect(handled.count == 1)
        #expect(!setup.agent.log.contains(setup.alphaToken))
    }

    @Test("401 without a token or with an unknown one; /healthz needs none")
    func unauthorized() async throws {
        let setup = try await setUp()
        let anonymous = try await setup.agent.sendRaw("GET", "/backup/due", body: nil, token: nil)
        #expect(anonymous.status == 401 && errorCode(anonymous.body) == AgentErrorCode.unauthorized)
        let stranger = try setup.agent.client(token: "fhg_not-a-real-token")
        await #expect { _ = try await stranger.backupDue() } throws: { ($0 as? AgentClientError)?.httpStatus == 401 }
        let health = try await setup.agent.sendRaw("GET", "/healthz", body: nil, token: nil)
        let body = String(decoding: health.body, as: UTF8.self)
        #expect(health.status == 200 && body.contains(#""version":"\#(ProductVersion.current)""#), "\(body)")
    }

    @Test("one guest cannot see or touch another's backups: 404, as for an id that does not exist")
    func crossGuest() async throws {
        let setup = try await setUp()
        let started = try await setup.alpha.startBackup(idempotencyKey: "k1", StartBackupRequest(quiesced: true, stacks: ["web"]))
        let id = started.response.backupID
        #expect(try await setup.agent.waitForFinish(setup.alpha, backupID: id).phase == .done)

        for call in [
            { _ = try await setup.beta.backupStatus(backupID: id) },
            { _ = try await setup.beta.backupResumed(backupID: id) },
            { _ = try await setup.beta.rollbackPreflight(backupID: id) },
            { _ = try await setup.alpha.backupStatus(backupID: "b-20200101T000000Z-00000000") },
            { _ = try await setup.beta.backupStatus(backupID: nil) },
        ] as [@Sendable () async throws -> Void] {
            await #expect { try await call() } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        }
        #expect(try await setup.beta.backups().isEmpty)
        #expect(try await setup.alpha.backups().map(\.backupID) == [id])
        #expect(try await setup.alpha.backupStatus(backupID: nil).backupID == id)
    }

    @Test("400 for a missing Idempotency-Key, malformed JSON or a wrong type; 413 for a body over 64 KiB")
    func badInput() async throws {
        let setup = try await setUp()
        let body = Array(#"{"quiesced":true,"stacks":[]}"#.utf8)
        let noKey = try await setup.agent.sendRaw("POST", "/backup", body: body, headers: ["Content-Type: application/json"], token: setup.alphaToken)
        #expect(noKey.status == 400 && errorCode(noKey.body) == AgentErrorCode.badRequest)

        for bad in ["{", #"{"quiesced":"yes","stacks":[]}"#, #"{"stacks":[]}"#, "[]"] {
            let answer = try await setup.agent.sendRaw("POST", "/backup", body: Array(bad.utf8), headers: ["Idempotency-Key: bad"], token: setup.alphaToken)
            #expect(answer.status == 400 && errorCode(answer.body) == AgentErrorCode.badRequest, "\(bad)")
        }
        let huge = Array(#"{"quiesced":true,"stacks":[""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 64 * 1024) + Array(#""]}"#.utf8)
        let tooLarge = try await setup.agent.sendRaw("POST", "/backup", body: huge, headers: ["Idempotency-Key: huge"], token: setup.alphaToken)
        #expect(tooLarge.status == 413 && errorCode(tooLarge.body) == AgentErrorCode.bodyTooLarge)
        let resumedTooLarge = try await setup.agent.sendRaw("POST", "/backup/resumed", body: huge, token: setup.alphaToken)
        #expect(resumedTooLarge.status == 413)
        // None of the refused requests started anything.
        #expect(try await setup.alpha.backups().isEmpty)
        await #expect { _ = try await setup.alpha.backupStatus(backupID: nil) } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
    }

    @Test("every id in a query or a body must have its documented shape: NUL, control characters and junk get 400 before any lookup")
    func strictIDs() async throws {
        let setup = try await setUp()
        let started = try await setup.alpha.startBackup(idempotencyKey: "k1", StartBackupRequest(quiesced: true, stacks: []))
        let id = started.response.backupID
        #expect(AgentID.isValid(id, kind: .backup), "the agent's own ids have the documented shape: \(id)")
        #expect(try await setup.agent.waitForFinish(setup.alpha, backupID: id).phase == .done)

        // The real id with a NUL and junk behind it used to find the real backup.
        for bad in ["\(id)%00junk", "\(id)%0A", "%00", "\(id)%20", "..%2F..%2Fetc", "B-\(id.dropFirst(2))", id + "g"] {
            let status = try await setup.agent.sendRaw("GET", "/backup/status?backup_id=\(bad)", body: nil, token: setup.alphaToken)
            #expect(status.status == 400 && errorCode(status.body) == AgentErrorCode.badRequest, "backup_id=\(bad)")
            let rollback = try await setup.agent.sendRaw("GET", "/rollback/status?op_id=\(bad)", body: nil, token: setup.alphaToken)
            #expect(rollback.status == 400, "op_id=\(bad)")
        }
        for bad in ["\(id)\u{0}junk", "\(id)\n", "", "b-1"] {
            let body = try JSONEncoder().encode(["backup_id": bad])
            for path in ["/backup/resumed", "/rollback"] {
                let answer = try await setup.agent.sendRaw("POST", path, body: Array(body), token: setup.alphaToken)
                #expect(answer.status == 400 && errorCode(answer.body) == AgentErrorCode.badRequest, "\(path) \(bad.debugDescription)")
            }
        }
        // A refused rollback request started nothing.
        let ops = try await setup.agent.cli(["ops", "--json"])
        #expect(!ops.standardOutput.contains("\"kind\" : \"rollback\""), "\(ops.standardOutput)")
        #expect(try await setup.alpha.backupStatus(backupID: id).phase == .done)
    }

    @Test("past limits.backups_per_day a guest gets 429 saying when the next can start; a known key still answers 200")
    func dailyLimit() async throws {
        let agent = try await AgentHarness(backupsPerDay: 2)
        let data = agent.root.path + "/data"
        try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
        let token = try await agent.addGuest("shop", dataDirectory: data)
        try await agent.start()
        let client = try agent.client(token: token)
        var first = ""
        for key in ["one", "two"] {
            let id = try await client.startBackup(idempotencyKey: key, .init(quiesced: true, stacks: [])).response.backupID
            #expect(try await agent.waitForFinish(client, backupID: id).phase == .done)
            if first.isEmpty { first = id }
        }
        await #expect { _ = try await client.startBackup(idempotencyKey: "three", .init(quiesced: true, stacks: [])) } throws: { error in
            guard case .http(429, let code, let message) = error as? AgentClientError else { return false }
            return code == AgentErrorCode.tooManyBackups && message.contains("limits.backups_per_day") && message.contains("next can start at")
        }
        let replay = try await client.startBackup(idempotencyKey: "one", .init(quiesced: true, stacks: []))
        #expect(replay.response.backupID == first && !replay.created)
        // Not due while the limit holds, even when requested: the controller would stop its stacks for a 429.
        #expect(try await agent.cli(["backup", "request", "shop"]).exitCode == 0)
        let due = try await client.backupDue()
        #expect(!due.due && due.nextDueAt.map { $0 > Date() } == true, "\(due)")
        #expect(try await client.backups().count == 2)
    }

    @Test("a repeated Idempotency-Key yields one backup, even when the requests race")
    func idempotency() async throws {
        let setup = try await setUp()
        let request = StartBackupRequest(quiesced: true, stacks: ["web"])
        let answers = try await withThrowingTaskGroup(of: (StartBackupResponse, Bool).self) { group in
            for _ in 0..<4 {
                group.addTask { try await setup.alpha.startBackup(idempotencyKey: "same-key", request) }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(answers.map(\.0.backupID)).count == 1)
        #expect(answers.filter(\.1).count == 1)
        let id = answers[0].0.backupID
        #expect(try await setup.agent.waitForFinish(setup.alpha, backupID: id).phase == .done)
        let again = try await setup.alpha.startBackup(idempotencyKey: "same-key", request)
        #expect(again.response.backupID == id && !again.created && again.response.phase == .done)
        #expect(try await setup.alpha.backups().count == 1)
        let ops = try await setup.agent.cli(["ops", "--json"])
        #expect(ops.standardOutput.components(separatedBy: "\"kind\" : \"backup\"").count - 1 == 1)
    }

    @Test("resuming before the capture records the backup as crash-consistent")
    func resumed() async throws {
        let setup = try await setUp()
        let started = try await setup.alpha.startBackup(idempotencyKey: "r1", StartBackupRequest(quiesced: true, stacks: ["web"]))
        let status = try await setup.alpha.backupResumed(backupID: started.response.backupID)
        let final = try await setup.agent.waitForFinish(setup.alpha, backupID: started.response.backupID)
        // The tiny backup may finish before the call lands; either way the record tells the truth.
        if status.phase == .queued || status.phase == .running {
            #expect(status.consistency == .crash && final.consistency == .crash)
        } else {
            #expect(final.consistency == .app)
        }
        let unquiesced = try await setup.beta.startBackup(idempotencyKey: "r2", StartBackupRequest(quiesced: false, stacks: []))
        #expect(try await setup.agent.waitForFinish(setup.beta, backupID: unquiesced.response.backupID).consistency == .crash)
    }

    @Test("the client's typed errors: refused, timed out, answer too large")
    func clientErrors() async throws {
        let setup = try await setUp()
        let pin = setup.agent.pin
        let refused = AgentClient(configuration: try AgentClientConfiguration(baseURL: "https://127.0.0.1:1", pin: pin, token: "t"))
        await #expect(throws: AgentClientError.connectionRefused(url: "https://127.0.0.1:1/backup/due")) { _ = try await refused.backupDue() }

        // A socket that accepts connections and never speaks TLS.
        let silent = try LoopbackListener()
        defer { silent.close() }
        let port = silent.port
        let hanging = AgentClient(configuration: try AgentClientConfiguration(
            baseURL: "https://127.0.0.1:\(port)", pin: pin, token: "t", connectTimeout: .seconds(1), totalTimeout: .seconds(1)))
        await #expect { _ = try await hanging.backupDue() } throws: {
            if case .timedOut = $0 as? AgentClientError { true } else { false }
        }

        let small = AgentClient(configuration: try AgentClientConfiguration(
            baseURL: setup.agent.baseURL, pin: pin, token: setup.alphaToken, responseLimit: 16))
        await #expect(throws: AgentClientError.responseTooLarge(limit: 16)) { _ = try await small.backupDue() }
    }

    @Test("the client refuses plain http and malformed pins before any call")
    func clientConfiguration() {
        let pin = "sha256//" + Data(repeating: 1, count: 32).base64EncodedString()
        #expect(throws: AgentClientError.self) { try AgentClientConfiguration(baseURL: "http://127.0.0.1:8443", pin: pin, token: "t") }
        #expect(throws: AgentClientError.self) { try AgentClientConfiguration(baseURL: "https://127.0.0.1:8443", pin: "sha256//short", token: "t") }
        #expect(throws: AgentClientError.self) { try AgentClientConfiguration(baseURL: "https://127.0.0.1:8443", pin: pin, token: "") }
    }
}
