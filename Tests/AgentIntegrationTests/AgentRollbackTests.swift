import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Rollback on the agent: the swap survives SIGKILL at every step", .heavy)
struct AgentRollbackTests {
    /// The data as it is when the rollback starts; the backup holds a different tree.
    static func writeOriginal(_ data: String, bulk: [UInt8]) throws {
        try? FileManager.default.removeItem(atPath: data)
        try FileManager.default.createDirectory(atPath: data + "/db", withIntermediateDirectories: true)
        try Data("after the backup\n".utf8).write(to: URL(fileURLWithPath: data + "/db/state.txt"))
        try Data("new file\n".utf8).write(to: URL(fileURLWithPath: data + "/db/only-in-original.txt"))
        var changed = bulk
        changed[0] ^= 0xff
        try Data(changed).write(to: URL(fileURLWithPath: data + "/bulk.bin"))
    }

    static func writeBackedUp(_ data: String, bulk: [UInt8]) throws {
        try? FileManager.default.removeItem(atPath: data)
        try FileManager.default.createDirectory(atPath: data + "/db", withIntermediateDirectories: true)
        try Data("at the backup\n".utf8).write(to: URL(fileURLWithPath: data + "/db/state.txt"))
        try Data(bulk).write(to: URL(fileURLWithPath: data + "/bulk.bin"))
    }

    static func leftovers(beside data: String) -> [String] {
        let parent = (data as NSString).deletingLastPathComponent
        let base = (data as NSString).lastPathComponent
        return ((try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []).filter { $0.hasPrefix(base + ".felhom-") }
    }

    /// Whether a tar is writing into `staging` right now.
    static func tarIsExtracting(into staging: String) -> Bool {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).contains { entry in
            guard Int32(entry) != nil, let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains("--directory=\(staging)")
        }
    }

    @Test("SIGKILL during extraction, after the journal, between the renames, before and after cleanup leaves exactly one whole tree and a true op state")
    func crashAtEveryStep() async throws {
        let agent = try await AgentHarness(keepLast: 50)
        let data = agent.root.path + "/guest-data"
        // Large enough that extraction takes a while and can be interrupted.
        let bulk = randomBytes(120_000_000)
        try Self.writeBackedUp(data, bulk: bulk)
        let token = try await agent.addGuest("shop", dataDirectory: data)
        try await agent.start()
        var client = try agent.client(token: token)
        let backupID = try await client.startBackup(idempotencyKey: "base", .init(quiesced: true, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: backupID).phase == .done)
        let backupTree = try await TreeFingerprint.of(data)
        try Self.writeOriginal(data, bulk: bulk)
        let originalTree = try await TreeFingerprint.of(data)
        #expect(backupTree != originalTree)
        agent.stop()

        let points: [(name: String, failpoint: String, expected: String)] = [
            ("during extraction", "rollback.extracting", "original"),
            ("after the journal is written", "rollback.journal-written", "original"),
            ("between the two renames", "rollback.between-renames", "original"),
            ("before cleanup", "rollback.before-cleanup", "backup"),
            ("after cleanup", "rollback.after-cleanup", "backup"),
        ]
        var table: [(String, Int, String)] = []
        for point in points {
            for round in 1...3 {
                try Self.writeOriginal(data, bulk: bulk)
                try await agent.start(environment: ["FELHOM_AGENT_FAILPOINT": point.failpoint])
                client = try agent.client(token: token)
                let opID = try await client.startRollback(backupID: backupID).opID
                let reached = await agent.running?.waitForLine("failpoint=\(point.failpoint)", timeout: .seconds(120)) ?? false
                let tarRunning = Self.tarIsExtracting(into: data + ".felhom-staging-\(opID)")
                agent.stop(signal: SIGKILL)
                try await agent.start()
                client = try agent.client(token: token)

                let tree = try await TreeFingerprint.of(data)
                let matches = [tree == originalTree ? "original" : nil, tree == backupTree ? "backup" : nil].compactMap { $0 }
                let status = try await client.rollbackStatus(opID: opID)
                let clean = Self.leftovers(beside: data).isEmpty
                #expect(reached, "\(point.name) round \(round): the point was never reached")
                #expect(matches == [point.expected], "\(point.name) round \(round): the tree matches \(matches)")
                #expect(clean, "\(point.name): leftovers \(Self.leftovers(beside: data))")
                #expect(status.phase == (point.expected == "backup" ? .done : .failed), "\(point.name): \(status)")
                let note = point.failpoint == "rollback.extracting" ? (tarRunning ? "; tar was still extracting" : "; tar had finished") : ""
                table.append((point.name, round, !reached ? "point not reached" : matches.count == 1 ? "\(matches[0]) tree, whole; op \(status.phase.rawValue)\(note)" : "FAILED: matches \(matches)"))
                agent.stop()
            }
        }
        print("\nSIGKILL point (rollback)      | round | data dir afterwards")
        print("------------------------------|-------|--------------------")
        for (name, round, outcome) in table {
            print("\(name.padding(toLength: 29, withPad: " ", startingAt: 0)) | \(round)     | \(outcome)")
        }
    }

    @Test("POST /rollback/cancel during extraction ends the op failed, drops the staging, and leaves the data dir as it was")
    func cancelDuringExtraction() async throws {
        let agent = try await AgentHarness(keepLast: 50)
        let data = agent.root.path + "/guest-data"
        let bulk = randomBytes(120_000_000)
        try Self.writeBackedUp(data, bulk: bulk)
        let token = try await agent.addGuest("shop", dataDirectory: data)
        try await agent.start()
        let client = try agent.client(token: token)
        let backupID = try await client.startBackup(idempotencyKey: "base", .init(quiesced: true, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: backupID).phase == .done)
        try Self.writeOriginal(data, bulk: bulk)
        let originalTree = try await TreeFingerprint.of(data)
        let backupsBefore = try await client.backups().count

        let opID = try await client.startRollback(backupID: backupID, idempotencyKey: "c-cycle-1").opID
        #expect(try await client.startRollback(backupID: backupID, idempotencyKey: "c-cycle-1").opID == opID,
                "the same key names the same op; no second rollback starts")
        #expect(await eventually(timeout: .seconds(120), every: .milliseconds(2)) { Self.tarIsExtracting(into: data + ".felhom-staging-\(opID)") })
        let answer = try await client.cancelRollback(opID: opID)
        #expect(answer.opID == opID)
        var final: RollbackStatus?
        #expect(await eventually(timeout: .seconds(120)) {
            final = try? await client.rollbackStatus(opID: opID)
            return final?.phase.isFinal == true
        })
        #expect(final?.phase == .failed && final?.error?.contains("cancelled") == true, "\(String(describing: final))")
        #expect(try await TreeFingerprint.of(data) == originalTree)
        #expect(Self.leftovers(beside: data).isEmpty, "\(Self.leftovers(beside: data))")
        #expect(try await client.backups().count == backupsBefore, "no pre-rollback backup is kept for a cancelled rollback")
        #expect(AgentCrashTests.partialFiles(in: agent.repository + "/shop").isEmpty)
        // The newest op is what a controller that lost its op id finds; a final op cancels as a no-op.
        #expect(try await client.latestRollbackStatus()?.opID == opID)
        #expect(try await client.cancelRollback(opID: opID).phase == .failed)
    }

    @Test("a rollback swaps in the backup and keeps a pre-rollback backup; another guest's backup id is 404 and changes nothing")
    func rollbackAndCrossGuest() async throws {
        let agent = try await AgentHarness()
        let data = agent.root.path + "/guest-data"
        let bulk = randomBytes(1_000_000)
        try Self.writeBackedUp(data, bulk: bulk)
        try agent.root.write("other-data/x.txt", Array("x".utf8))
        let token = try await agent.addGuest("shop", dataDirectory: data)
        let otherToken = try await agent.addGuest("other", dataDirectory: agent.root.path + "/other-data")
        try await agent.start()
        let client = try agent.client(token: token)
        let other = try agent.client(token: otherToken)
        let backupID = try await client.startBackup(idempotencyKey: "base", .init(quiesced: true, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: backupID).phase == .done)
        let backupTree = try await TreeFingerprint.of(data)
        try Self.writeOriginal(data, bulk: bulk)
        let originalTree = try await TreeFingerprint.of(data)

        await #expect { _ = try await other.startRollback(backupID: backupID) } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        #expect(try await TreeFingerprint.of(data) == originalTree)
        #expect(try await other.backups().isEmpty)

        let opID = try await client.startRollback(backupID: backupID).opID
        await #expect { _ = try await other.rollbackStatus(opID: opID) } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        #expect(await eventually { (try? await client.rollbackStatus(opID: opID).phase) == .done })
        #expect(try await TreeFingerprint.of(data) == backupTree)
        #expect(Self.leftovers(beside: data).isEmpty)

        // The escape hatch: the data as it was just before, listed like any backup.
        let listed = try await client.backups()
        #expect(listed.count == 2)
        let escape = try #require(listed.first { $0.backupID != backupID })
        let restored = agent.root.path + "/escape"
        #expect(try await agent.cli(["restore", escape.backupID, "--to", restored]).exitCode == 0)
        #expect(try await TreeFingerprint.of(restored) == originalTree.replacingOccurrences(of: data, with: restored))
    }
}
