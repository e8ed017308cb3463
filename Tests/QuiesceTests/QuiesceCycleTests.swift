import AgentAPI
import Foundation
import Logging
import Stacks
import Synchronization
import TestSupport
import Testing
@testable import Quiesce

@Suite("One quiesce cycle, with docker and the agent behind seams")
struct QuiesceCycleTests {
    /// Short waits; a bound far away, so only the test of the bound ever reaches it, however loaded the machine.
    static let fast = QuiesceSettings(
        pollInterval: .milliseconds(10), statusPollInterval: .milliseconds(5), maxQuiesce: .seconds(60),
        restartRetryBase: .milliseconds(5), restartRetryCap: .milliseconds(20), shutdownRestartBudget: .milliseconds(200))

    struct Rig {
        let directory: TemporaryDirectory
        let stacks: FakeStacks
        let agent: FakeAgent
        let cycle: QuiesceCycle
        let marker: MarkerFile
    }

    func rig(
        up: Set<String> = ["shop", "blog", "traefik"], agent: FakeAgent = FakeAgent(), settings: QuiesceSettings = fast,
        clock: any QuiesceClock = SystemQuiesceClock()
    ) throws -> Rig {
        let directory = try TemporaryDirectory("quiesce")
        let stacks = FakeStacks(up: up, protected: ["traefik"])
        let marker = MarkerFile(stateDirectory: directory.path)
        let cycle = QuiesceCycle(
            agent: agent, control: stacks, marker: marker, records: try CycleStore(path: directory.path + "/c.sqlite"),
            state: QuiesceState(), settings: settings, clock: clock, logger: Logger(label: "test"))
        return Rig(directory: directory, stacks: stacks, agent: agent, cycle: cycle, marker: marker)
    }

    @Test("the happy path stops the app stacks, backs up, and restarts exactly them")
    func happy() async throws {
        let rig = try rig()
        let record = try #require(try await rig.cycle.runIfDue())
        #expect(record.outcome == .succeeded && record.consistency == .app && record.phaseReached == .done)
        // Stopped together and started together: every stop before any start, in either order within each.
        #expect(Set(rig.stacks.events.prefix(2)) == ["stop blog", "stop shop"])
        #expect(Set(rig.stacks.events.dropFirst(2)) == ["start blog", "start shop"] && rig.stacks.events.count == 4)
        // This fake agent has no prepare: the backup goes on without a capture, and the record says why.
        #expect(rig.agent.calls.prefix(2) == ["prepare", "start blog,shop"])
        #expect(record.captureMethod == BackupCaptureMethod.none && record.captureReason?.contains("prepare") == true)
        #expect(rig.stacks.up == ["shop", "blog", "traefik"])
        #expect(try rig.marker.read() == nil)
        #expect(Set(record.downtimeMs.keys) == ["blog", "shop"])
    }

    @Test("nothing happens when no backup is due")
    func notDue() async throws {
        let rig = try rig(agent: FakeAgent { $0.due = false })
        #expect(try await rig.cycle.runIfDue() == nil)
        #expect(rig.stacks.events.isEmpty)
    }

    @Test("a failed stop restarts what was stopped and never calls POST /backup")
    func stopFails() async throws {
        let rig = try rig()
        rig.stacks.state.withLock { $0.failStop = ["shop"] }
        let record = try await rig.cycle.run(.backup)
        #expect(record.outcome == .failed && record.error?.contains("stopping shop") == true)
        #expect(!rig.agent.calls.contains { $0.hasPrefix("start") })
        #expect(rig.stacks.up == ["shop", "blog", "traefik"])
        #expect(try rig.marker.read() == nil)
    }

    @Test("an error from POST /backup restarts the stacks")
    func startFails() async throws {
        let rig = try rig(agent: FakeAgent { $0.startError = .http(status: 500, code: "internal_error", message: "boom") })
        let record = try await rig.cycle.run(.backup)
        #expect(record.outcome == .failed && record.backupID == nil)
        #expect(rig.stacks.up == ["shop", "blog", "traefik"] && rig.agent.resumed.isEmpty)
    }

    @Test("a failed phase restarts the stacks and tells the agent the guest resumed")
    func phaseFailed() async throws {
        let rig = try rig(agent: FakeAgent { $0.phases = [.running, .failed] })
        let record = try await rig.cycle.run(.backup)
        #expect(record.outcome == .failed && record.phaseReached == .failed)
        #expect(rig.stacks.up == ["shop", "blog", "traefik"])
    }

    @Test("status errors are retried until the bound; then the stacks restart and the backup is crash-consistent")
    func bound() async throws {
        // Half an hour of virtual time: the clock seam makes the bound cost no real waiting.
        var settings = Self.fast
        settings.maxQuiesce = .seconds(1800)
        settings.statusPollInterval = .seconds(2)
        let rig = try rig(agent: FakeAgent { $0.statusError = .connectionRefused(url: "x") }, settings: settings, clock: ManualClock())
        let record = try await rig.cycle.run(.backup)
        #expect(record.outcome == .failed && record.error?.contains("max_quiesce_seconds") == true)
        #expect(record.consistency == .crash && rig.agent.resumed == ["b-1"])
        #expect(rig.agent.calls.filter { $0 == "status" }.count >= 2, "a failed poll is retried, not taken as the end")
        #expect(rig.stacks.up == ["shop", "blog", "traefik"])
    }

    @Test("snapshotted releases the guest early and keeps the backup app-consistent")
    func snapshotted() async throws {
        let rig = try rig(agent: FakeAgent { $0.phases = [.running, .snapshotted] })
        let record = try await rig.cycle.run(.backup)
        #expect(record.outcome == .succeeded && record.consistency == .app && rig.agent.resumed.isEmpty)
    }

    @Test("cancellation (SIGTERM) restarts the stacks before the cycle returns")
    func cancelled() async throws {
        let rig = try rig(agent: FakeAgent { $0.phases = [.running] }, settings: QuiesceSettings(
            pollInterval: .seconds(1), statusPollInterval: .milliseconds(20), maxQuiesce: .seconds(60),
            restartRetryBase: .milliseconds(5), restartRetryCap: .milliseconds(20), shutdownRestartBudget: .seconds(5)))
        let task = Task { try await rig.cycle.run(.backup) }
        let polling = await eventually(timeout: .seconds(10), every: .milliseconds(5)) { rig.agent.calls.contains("status") }
        #expect(polling)
        task.cancel()
        let record = try await task.value
        #expect(record.outcome == .failed && record.consistency == .crash)
        #expect(rig.stacks.up == ["shop", "blog", "traefik"])
        #expect(try rig.marker.read() == nil)
    }

    @Test("a failed restart keeps retrying, with waits doubling to the cap, until the stack is up, and only then clears the marker")
    func restartRetries() async throws {
        var settings = Self.fast
        settings.restartRetryBase = .seconds(1)
        settings.restartRetryCap = .seconds(4)
        let clock = ManualClock()
        let rig = try rig(settings: settings, clock: clock)
        rig.stacks.state.withLock { $0.failStarts = ["shop": 4] }
        let record = try await rig.cycle.run(.backup)
        #expect(rig.stacks.events.filter { $0 == "start shop" }.count == 5)
        #expect(clock.sleeps.filter { $0 >= .seconds(1) } == [.seconds(1), .seconds(2), .seconds(4), .seconds(4)])
        #expect(record.outcome == .succeeded && rig.stacks.up.contains("shop"))
        #expect(try rig.marker.read() == nil)
    }

    @Test("a rollback at the bound with the agent unreachable: cancel asked, stacks down until the op is final, then up")
    func rollbackBoundUnreachable() async throws {
        var settings = Self.fast
        settings.maxQuiesce = .seconds(60)
        settings.statusPollInterval = .seconds(2)
        let clock = ManualClock()
        let agent = FakeAgent {
            $0.rollbackPhases = [.running]
            $0.rollbackStatusError = .connectionRefused(url: "x")
        }
        let rig = try rig(agent: agent, settings: settings, clock: clock)
        let task = Task { try await rig.cycle.run(.rollback(backupID: "b-20261125T020000Z-0000aaaa")) }
        #expect(await eventually(timeout: .seconds(30), every: .milliseconds(5)) { agent.calls.contains("cancel r-1") }, "\(agent.calls)")
        #expect(clock.now >= .seconds(60), "the cancel comes at the bound")
        // Well past the bound, on virtual time: the agent is still unreachable, so the stacks stay down.
        #expect(await eventually(timeout: .seconds(30), every: .milliseconds(5)) { clock.now >= .seconds(600) })
        #expect(!rig.stacks.up.contains("shop") && !rig.stacks.up.contains("blog"))
        #expect(try rig.marker.read() != nil)
        #expect(rig.cycle.state.waitingReason?.contains("recover --force") == true)
        agent.state.withLock { $0.rollbackStatusError = nil }
        let record = try await task.value
        #expect(record.outcome == .failed && record.error?.contains("max_quiesce_seconds") == true)
        #expect(rig.stacks.up == ["shop", "blog", "traefik"])
        #expect(try rig.marker.read() == nil)
    }

    @Test("a waiting rollback cycle whose marker another process finished (recover --force) lets go: no restart, no record")
    func takenOver() async throws {
        var settings = Self.fast
        settings.statusPollInterval = .seconds(2)
        let agent = FakeAgent { $0.rollbackStatusError = .connectionRefused(url: "x") }
        let rig = try rig(agent: agent, settings: settings, clock: ManualClock())
        let task = Task { try await rig.cycle.run(.rollback(backupID: "b-20261125T020000Z-0000aaaa")) }
        #expect(await eventually(timeout: .seconds(30), every: .milliseconds(5)) { rig.cycle.state.waitingReason != nil })
        try rig.marker.clear()
        _ = try await task.value
        #expect(!rig.stacks.events.contains("start shop"), "\(rig.stacks.events)")
        #expect(rig.cycle.state.snapshot == .idle)
        #expect(try rig.cycle.records.recent().isEmpty)
    }

    @Test("a rollback cycle stops the stacks, rolls back, and restarts them; a second cycle meanwhile is refused")
    func rollback() async throws {
        let rig = try rig()
        let backupID = "b-20261125T020000Z-0000aaaa"
        let record = try await rig.cycle.run(.rollback(backupID: backupID))
        #expect(record.kind == .rollback && record.outcome == .succeeded && record.backupID == backupID)
        #expect(rig.stacks.up == ["shop", "blog", "traefik"] && rig.agent.resumed.isEmpty)

        try rig.marker.write(QuiesceMarker(cycleID: "c-9", startedAt: Date(), stacks: ["shop"]))
        await #expect { try await rig.cycle.run(.rollback(backupID: backupID)) } throws: { ($0 as? QuiesceError)?.code == .busy }
    }

    @Test("a rollback to a mistyped backup id is refused before anything: no marker, no stop, no cycle record")
    func mistypedRollbackID() async throws {
        let rig = try rig()
        for bad in ["b-0", "", "b-20261125T020000Z-0000aaaa\u{0}", "../b-20261125T020000Z-0000aaaa"] {
            await #expect { try await rig.cycle.run(.rollback(backupID: bad)) } throws: { ($0 as? QuiesceError)?.code == .invalidRequest }
        }
        #expect(rig.stacks.events.isEmpty && rig.stacks.up == ["shop", "blog", "traefik"])
        #expect(try rig.marker.read() == nil)
        #expect(try CycleStore(path: rig.directory.path + "/c.sqlite").recent(limit: 10).isEmpty)
    }

    @Test("a rollback the agent's pre-flight refuses stops nothing: no marker, no stop, no POST /rollback, no cycle record")
    func preflightRefused() async throws {
        for (status, code) in [(404, QuiesceError.Code.invalidRequest), (409, .invalidRequest), (500, .agent)] {
            let agent = FakeAgent { $0.preflightError = .http(status: status, code: "x", message: "refused") }
            let rig = try rig(agent: agent)
            let backupID = "b-20261125T020000Z-0000aaaa"
            await #expect { try await rig.cycle.run(.rollback(backupID: backupID)) } throws: { ($0 as? QuiesceError)?.code == code }
            #expect(rig.stacks.events.isEmpty && rig.agent.calls == ["preflight \(backupID)"], "\(rig.agent.calls)")
            #expect(try rig.marker.read() == nil)
            #expect(try CycleStore(path: rig.directory.path + "/c.sqlite").recent(limit: 10).isEmpty)
        }
    }

    @Test("a customer's stack operation and a cycle exclude each other: neither begins while the other runs")
    func customerOperationExcludesCycle() async throws {
        let rig = try rig()
        let (entered, enter) = AsyncStream<Void>.makeStream()
        let (released, release) = AsyncStream<Void>.makeStream()
        async let operation: Void = rig.cycle.state.withCustomerOperation(on: "shop") {
            enter.yield()
            for await _ in released { break }
        }
        for await _ in entered { break }
        await #expect { try await rig.cycle.run(.backup) } throws: { ($0 as? QuiesceError)?.code == .busy }
        #expect(rig.stacks.events.isEmpty, "the cycle stopped nothing while the customer's operation ran")
        release.yield()
        try await operation
        #expect(try await rig.cycle.run(.backup).outcome == .succeeded)

        #expect(rig.cycle.state.reserve())
        await #expect { try await rig.cycle.state.withCustomerOperation(on: "shop") {} } throws: { ($0 as? QuiesceError)?.code == .busy }
        rig.cycle.state.release()
        try await rig.cycle.state.withCustomerOperation(on: "shop") {}
    }

    @Test("a rollback handed to the loop service runs there: submit returns once the cycle has claimed the loop, or says why not")
    func rollbackThroughTheLoop() async throws {
        let agent = FakeAgent { $0.due = false }
        let rig = try rig(agent: agent)
        let requests = RollbackRequests()
        let loop = QuiesceLoop(cycle: rig.cycle, rollbacks: requests, logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await loop.run() }
            try await requests.submit(backupID: "b-20261125T020000Z-0000aaaa")
            let records = try CycleStore(path: rig.directory.path + "/c.sqlite")
            #expect(await eventually(timeout: .seconds(30), every: .milliseconds(5)) {
                (try? records.recent(limit: 5).first?.kind) == .rollback
            })
            #expect(agent.calls.contains("rollback b-20261125T020000Z-0000aaaa"))

            agent.state.withLock { $0.preflightError = .http(status: 404, code: "not_found", message: "no such backup") }
            await #expect { try await requests.submit(backupID: "b-20261125T020000Z-0000bbbb") } throws: {
                ($0 as? QuiesceError)?.code == .invalidRequest
            }
            group.cancelAll()
        }
        // A request that arrives once the loop has stopped is refused, not left waiting.
        await #expect { try await requests.submit(backupID: "b-20261125T020000Z-0000cccc") } throws: {
            ($0 as? QuiesceError)?.code == .cancelled
        }
    }

    @Test("Recover() restarts exactly the marker's stacks and clears it; a stack stopped before stays stopped")
    func recover() async throws {
        let rig = try rig(up: ["traefik"])
        try rig.marker.write(QuiesceMarker(cycleID: "c-1", startedAt: Date(), stacks: ["shop"], backupID: "b-1"))
        let record = try #require(try await rig.cycle.recover())
        #expect(record.outcome == .recovered && record.stacks == ["shop"])
        #expect(rig.stacks.up == ["shop", "traefik"])
        #expect(try rig.marker.read() == nil)
        #expect(try await rig.cycle.recover() == nil)
    }

    @Test("the marker is written 0600 before the first stop")
    func markerFirst() async throws {
        let directory = try TemporaryDirectory("quiesce")
        let marker = MarkerFile(stateDirectory: directory.path)
        /// Checks the marker at the moment of the first stop.
        final class Watching: StackControl, Sendable {
            let inner: FakeStacks
            let marker: MarkerFile
            let seen = Mutex<[String]?>(nil)
            let mode = Mutex<Int?>(nil)
            init(inner: FakeStacks, marker: MarkerFile) { self.inner = inner; self.marker = marker }
            func runningAppStacks() async throws -> [AppStack] { try await inner.runningAppStacks() }
            func stop(_ stack: String) async throws {
                let stacks = try marker.read()?.stacks
                seen.withLock { if $0 == nil { $0 = stacks } }
                let permissions = try FileManager.default.attributesOfItem(atPath: marker.path)[.posixPermissions] as? Int
                mode.withLock { if $0 == nil { $0 = permissions } }
                try await inner.stop(stack)
            }
            func start(_ stack: String) async throws { try await inner.start(stack) }
            func status(_ stack: String) async throws -> StackStatus { try await inner.status(stack) }
            func waitForOrphanedOperations(_ stacks: [String]) async {}
        }
        let control = Watching(inner: FakeStacks(up: ["a", "b"]), marker: marker)
        let cycle = QuiesceCycle(
            agent: FakeAgent(), control: control, marker: marker, records: try CycleStore(path: directory.path + "/c.sqlite"),
            state: QuiesceState(), settings: Self.fast, logger: Logger(label: "test"))
        let task = Task { try await cycle.run(.backup) }
        _ = await eventually { control.mode.withLock { $0 != nil } }
        #expect(control.seen.withLock { $0 } == ["a", "b"])
        #expect(control.mode.withLock { $0 } == 0o600)
        _ = try await task.value
    }
}
