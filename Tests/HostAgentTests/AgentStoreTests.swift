import AgentAPI
import Foundation
import TestSupport
import GRDB
import Testing
@testable import HostAgent

@Suite("The op journal and backup records")
struct AgentStoreTests {
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func makeStore(_ directory: TemporaryDirectory, guests: [String] = ["alpha", "beta"]) throws -> AgentStore {
        let store = try AgentStore(path: directory.path + "/agent.sqlite")
        for name in guests {
            try store.addGuest(GuestRecord(
                name: name, dataDirectory: "/data/\(name)", intervalSeconds: 3600,
                tokenSHA256: GuestToken.digest("token-\(name)"), backupRequestedAt: nil, createdAt: now))
        }
        return store
    }

    func begin(_ store: AgentStore, guest: String = "alpha", key: String, id: String) throws -> BeginBackupOutcome {
        try store.beginBackup(
            guest: guest, idempotencyKey: key, request: StartBackupRequest(quiesced: true, stacks: ["web"]),
            backupID: id, now: now)
    }

    func artifact(_ id: String) -> BackupArtifact {
        BackupArtifact(archivePath: "/r/\(id).tar.zst", manifestPath: "/r/\(id).manifest.json", sizeBytes: 10, dataBytes: 20)
    }

    @Test("WAL and synchronous=FULL are in force")
    func pragmas() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        let (mode, synchronous) = try store.database.read { db in
            (try String.fetchOne(db, sql: "PRAGMA journal_mode"), try Int.fetchOne(db, sql: "PRAGMA synchronous"))
        }
        #expect(mode == "wal" && synchronous == 2)
    }

    @Test("the same key gives the same backup, and a second key waits for the first")
    func idempotencyAndConflict() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        guard case .created(let first) = try begin(store, key: "k1", id: "b-1") else { Issue.record("not created"); return }
        #expect(first.status.phase == .queued && first.status.consistency == .app)
        #expect(try begin(store, key: "k1", id: "b-2") == .existing(first))
        #expect(try begin(store, key: "k2", id: "b-3") == .conflict(inFlightID: "b-1"))
        // Keys are per guest: another guest's identical key is its own backup.
        guard case .created = try begin(store, guest: "beta", key: "k1", id: "b-4") else { Issue.record("beta not created"); return }

        try store.markRunning("b-1", now: now)
        try store.completeBackup("b-1", artifact: artifact("b-1"), now: now)
        // A succeeded key stays applied: it still names b-1, and starts nothing.
        guard case .existing(let again) = try begin(store, key: "k1", id: "b-5") else { Issue.record("not existing"); return }
        #expect(again.backupID == "b-1" && again.status.phase == .done)
        #expect(try store.ops().count == 2)
    }

    @Test("a final op never moves again")
    func finalIsFinal() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        _ = try begin(store, key: "k", id: "b-1")
        try store.failOp("b-1", reason: "boom", now: now)
        try store.markRunning("b-1", now: now)
        try store.completeBackup("b-1", artifact: artifact("b-1"), now: now)
        let entry = try #require(try store.backup("b-1", guest: "alpha"))
        #expect(entry.op.state == .failed && entry.op.error == "boom")
    }

    @Test("another guest's backup id is not found")
    func scoped() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        _ = try begin(store, key: "k", id: "b-1")
        #expect(try store.backup("b-1", guest: "beta") == nil)
        #expect(try store.markResumed("b-1", guest: "beta") == nil)
        #expect(try store.backup("b-1", guest: "alpha") != nil)
    }

    @Test("resuming before the capture makes the backup crash-consistent; after it, nothing changes")
    func resumed() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        _ = try begin(store, key: "k1", id: "b-1")
        try store.markRunning("b-1", now: now)
        #expect(try store.markResumed("b-1", guest: "alpha")?.status.consistency == .crash)

        _ = try begin(store, guest: "beta", key: "k1", id: "b-2")
        try store.completeBackup("b-2", artifact: artifact("b-2"), now: now)
        #expect(try store.markResumed("b-2", guest: "beta")?.status.consistency == .app)
    }

    @Test("retention keeps the newest N successful backups and lists no failed one")
    func retention() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        for index in 1...4 {
            let at = now.addingTimeInterval(TimeInterval(index))
            _ = try store.beginBackup(guest: "alpha", idempotencyKey: "k\(index)", request: .init(quiesced: true, stacks: []), backupID: "b-\(index)", now: at)
            if index == 4 {
                try store.failOp("b-4", reason: "disk full", now: at)
            } else {
                try store.completeBackup("b-\(index)", artifact: artifact("b-\(index)"), now: at)
            }
        }
        let pruned = try store.pruneBackups(guest: "alpha", retention: Retention(keepLast: 1), now: now)
        #expect(pruned.map(\.backupID) == ["b-2", "b-1"])
        #expect(try store.listedBackups(guest: "alpha").map(\.backupID) == ["b-3"])
        #expect(try store.lastSuccessfulBackup(guest: "alpha") == now.addingTimeInterval(3))
    }

    @Test("retention per kind: escape hatches never push a real backup out; in-use and proven backups stay; pruned reads `pruned`")
    func retentionPerKind() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        var clock = now
        func tick() -> Date { clock = clock.addingTimeInterval(1); return clock }
        func backup(_ id: String) throws {
            let at = tick()
            _ = try store.beginBackup(guest: "alpha", idempotencyKey: id, request: .init(quiesced: true, stacks: []), backupID: id, now: at)
            try store.completeBackup(id, artifact: artifact(id), now: at)
        }
        try backup("b-target")
        // Seven rollbacks to b-target, each leaving its escape hatch.
        for index in 1...7 {
            let opID = "r-\(index)"
            _ = try store.beginRollback(guest: "alpha", backupID: "b-target", opID: opID, now: tick())
            try store.recordPreRollbackBackup(rollbackID: opID, guest: "alpha", backupID: "b-pre-\(index)", artifact: artifact("b-pre-\(index)"), startedAt: tick(), now: clock)
            try store.succeedOp(opID, now: tick())
        }
        try store.requestBackup(guest: "alpha", now: tick())
        try backup("b-manual")
        try backup("b-new")

        let pruned = try store.pruneBackups(guest: "alpha", retention: Retention(keepLast: 3, keepPreRollback: 2), now: tick())
        #expect(Set(pruned.map(\.backupID)) == Set((1...5).map { "b-pre-\($0)" }))
        #expect(try store.listedBackups(guest: "alpha").map(\.backupID) == ["b-new", "b-manual", "b-pre-7", "b-pre-6", "b-target"])
        #expect(try store.backup("b-manual", guest: "alpha")?.backup.kind == .manual)
        #expect(try store.backup("b-new", guest: "alpha")?.backup.kind == .scheduled)
        #expect(try store.backup("b-pre-1", guest: "alpha")?.status.phase == .pruned, "a pruned backup never reads `done`")

        // A rollback in flight to b-target and a passed restore test of b-manual keep both past keep_last.
        _ = try store.beginRollback(guest: "alpha", backupID: "b-target", opID: "r-9", now: tick())
        try store.beginRestoreTest(guest: "alpha", backupID: "b-manual", opID: "t-1", now: tick())
        try store.finishRestoreTest("t-1", result: .passed, checks: [], now: tick())
        try store.failOp("r-9", reason: "held", now: clock)
        _ = try store.beginRollback(guest: "alpha", backupID: "b-target", opID: "r-10", now: tick())
        let held = try store.pruneBackups(guest: "alpha", retention: Retention(keepLast: 1, keepPreRollback: 2), now: tick())
        #expect(held.isEmpty, "\(held.map(\.backupID))")
        try store.failOp("r-10", reason: "done with it", now: tick())
        let released = try store.pruneBackups(guest: "alpha", retention: Retention(keepLast: 1, keepPreRollback: 2), now: tick())
        #expect(released.map(\.backupID) == ["b-target"], "the proven b-manual stays; b-target goes once no rollback reads it")
    }

    @Test("a request is cleared only by a backup that started after it")
    func requestCleared() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        try store.requestBackup(guest: "alpha", now: now.addingTimeInterval(-10))
        _ = try begin(store, key: "k", id: "b-1")
        try store.completeBackup("b-1", artifact: artifact("b-1"), now: now)
        #expect(try store.guest(named: "alpha")?.backupRequestedAt == nil)
        #expect(throws: GuestError.self) { try store.requestBackup(guest: "nobody", now: now) }
    }

    @Test("in-flight ops are the started and running ones")
    func inFlight() throws {
        let directory = try TemporaryDirectory("store")
        let store = try makeStore(directory)
        _ = try begin(store, key: "k", id: "b-1")
        _ = try begin(store, guest: "beta", key: "k", id: "b-2")
        try store.markRunning("b-2", now: now)
        #expect(try Set(store.inFlightOps().map(\.id)) == ["b-1", "b-2"])
    }
}
