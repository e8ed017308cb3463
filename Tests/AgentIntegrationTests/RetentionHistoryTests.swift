import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Retention never loses the real history", .heavy)
struct RetentionHistoryTests {
    @Test("10 rollbacks, then 3 scheduled backups: every promised backup stays, the target stays restorable, pruned never reads done")
    func historyKept() async throws {
        // The defaults: keep_last 7, keep_pre_rollback 3.
        let agent = try await AgentHarness()
        let data = agent.root.path + "/guest-data"
        let bulk = randomBytes(200_000)
        try AgentRollbackTests.writeBackedUp(data, bulk: bulk)
        let token = try await agent.addGuest("shop", dataDirectory: data)
        try await agent.start()
        let client = try agent.client(token: token)
        let target = try await client.startBackup(idempotencyKey: "target", .init(quiesced: true, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: target).phase == .done)
        let targetTree = try await TreeFingerprint.of(data)

        for round in 1...10 {
            try AgentRollbackTests.writeOriginal(data, bulk: bulk)
            let opID = try await client.startRollback(backupID: target).opID
            #expect(await eventually { (try? await client.rollbackStatus(opID: opID).phase) == .done }, "rollback \(round)")
        }
        var scheduled: [String] = []
        for round in 1...3 {
            let id = try await client.startBackup(idempotencyKey: "scheduled-\(round)", .init(quiesced: true, stacks: [])).response.backupID
            #expect(try await agent.waitForFinish(client, backupID: id).phase == .done)
            scheduled.append(id)
        }

        let listed = try await client.backups().map(\.backupID)
        #expect(Set(scheduled + [target]).isSubset(of: Set(listed)), "\(listed)")
        #expect(listed.count == 4 + 3, "4 real backups and the 3 newest escape hatches: \(listed)")
        // Every backup the agent ever took: the pruned ones say so.
        let journal = try await agent.cli(["ops", "--json"])
        let ops = try JSONSerialization.jsonObject(with: Data(journal.standardOutput.utf8)) as? [[String: Any]] ?? []
        let backupIDs = ops.filter { $0["kind"] as? String == "backup" }.compactMap { $0["id"] as? String }
        #expect(backupIDs.count == 4 + 10)
        for id in backupIDs where !listed.contains(id) {
            let status = try await client.backupStatus(backupID: id)
            #expect(status.phase == .pruned, "\(id) is gone but reads \(status.phase)")
            await #expect { _ = try await client.rollbackPreflight(backupID: id) } throws: { ($0 as? AgentClientError)?.httpStatus == 404 }
        }
        #expect(try await client.rollbackPreflight(backupID: target).dataBytes > 0)

        let opID = try await client.startRollback(backupID: target).opID
        #expect(await eventually { (try? await client.rollbackStatus(opID: opID).phase) == .done })
        #expect(try await TreeFingerprint.of(data) == targetTree, "the rolled-back-to backup still restores exactly")
    }
}
