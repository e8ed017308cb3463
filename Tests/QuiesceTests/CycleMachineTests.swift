import AgentAPI
import Foundation
import Testing
@testable import Quiesce

/// The cycle's decisions alone: events in, actions out, no I/O and no waiting.
@Suite("The quiesce cycle machine")
struct CycleMachineTests {
    typealias Action = CycleMachine.Action
    typealias Event = CycleMachine.Event

    static func marker(_ kind: CycleKind = .backup, stacks: [String] = ["blog", "shop"], configure: (inout QuiesceMarker) -> Void = { _ in }) -> QuiesceMarker {
        var marker = QuiesceMarker(cycleID: "c-1", startedAt: Date(timeIntervalSince1970: 0), stacks: stacks, kind: kind)
        marker.partialBefore = []
        if kind == .rollback { marker.backupID = "b-20261125T020000Z-0000aaaa" }
        configure(&marker)
        return marker
    }

    /// Plays the machine against `world`, which answers each action with an event or nothing,
    /// until no action is left or `limit` actions have run. Returns every action in order.
    @discardableResult
    static func play(_ machine: inout CycleMachine, limit: Int = 200, world: (Action) -> Event?) -> [Action] {
        var queue = machine.start()
        var log: [Action] = []
        while !queue.isEmpty, log.count < limit {
            let action = queue.removeFirst()
            log.append(action)
            if let event = world(action) { queue += machine.handle(event) }
        }
        return log
    }

    /// Runs a live backup machine through a prepare that becomes ready, up to its marker write.
    static func prepare(_ machine: inout CycleMachine) {
        _ = machine.start()
        _ = machine.handle(.prepareStarted(backupID: "b-1"))
        _ = machine.handle(.preparePolled(.ready, error: nil))
        _ = machine.handle(.stacksListed(stacks: ["blog", "shop"], partialBefore: []))
    }

    /// A world where everything works: stops, starts, and the agent, which answers with `phases` in turn.
    static func world(phases: [BackupPhase] = [.running, .done], rollback: [RollbackPhase] = [.running, .done]) -> (Action) -> Event? {
        var phases = phases
        var rollback = rollback
        return { action in
            switch action {
            case .prepareBackup: return .prepareStarted(backupID: "b-1")
            case .pollPrepare: return .preparePolled(.ready, error: nil)
            case .listStacks: return .stacksListed(stacks: ["blog", "shop"], partialBefore: [])
            case .writeMarker: return .markerWritten
            case .stopAll: return .allStopped
            case .startBackup: return .backupStarted(backupID: "b-1", phase: .queued)
            case .startRollback: return .rollbackStarted(opID: "r-1")
            case .pollBackup: return .backupPolled(phases.count > 1 ? phases.removeFirst() : phases[0], error: nil)
            case .pollRollback: return .rollbackPolled(rollback.count > 1 ? rollback.removeFirst() : rollback[0], error: nil)
            case .findRollbackOp: return .rollbackOpFound(opID: nil, phase: nil)
            case .reportResumed: return .resumeReported(.crash)
            case .restart: return .restartFinished(stillDown: [])
            case .waitForOrphanedOperations, .cancelRollback, .clearMarker, .record: return nil
            }
        }
    }

    static func restarts(_ log: [Action]) -> Int { log.filter { if case .restart = $0 { true } else { false } }.count }
    static func record(_ log: [Action]) -> CycleOutcome? {
        log.compactMap { if case .record(let outcome) = $0 { outcome } else { nil } }.last
    }

    @Test("happy path: marker, stops in order, backup, polls, restart of exactly the marker's stacks, clear, succeeded")
    func happy() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine, world: Self.world())
        #expect(log == [
            .prepareBackup(idempotencyKey: "prepare-c-1"), .pollPrepare(backupID: "b-1", afterInterval: false), .listStacks,
            .writeMarker(Self.marker { $0.backupID = "b-1" }), .stopAll(["blog", "shop"]), .startBackup(idempotencyKey: "c-1", stacks: ["blog", "shop"], prepareID: "b-1"),
            .writeMarker(Self.marker { $0.backupID = "b-1" }), .pollBackup(backupID: "b-1", afterInterval: false),
            .pollBackup(backupID: "b-1", afterInterval: true),
            .restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: false), .clearMarker, .record(.succeeded),
        ])
        #expect(machine.consistency == .app && machine.failure == nil && machine.isFinished)
    }

    @Test("prepare comes before the marker: polled until ready, and POST /backup names it")
    func prepareFirst() {
        var machine = CycleMachine.live(Self.marker())
        var polls = 0
        let world = Self.world()
        let log = Self.play(&machine) { action in
            if case .pollPrepare = action {
                polls += 1
                return .preparePolled(polls < 3 ? .preparing : .ready, error: nil)
            }
            return world(action)
        }
        let marker = log.firstIndex(of: .writeMarker(Self.marker { $0.backupID = "b-1" }))!
        #expect(log.prefix(marker).allSatisfy { if case .stopAll = $0 { false } else { true } })
        #expect(polls == 3 && log.contains(.pollPrepare(backupID: "b-1", afterInterval: true)))
        #expect(log.contains(.startBackup(idempotencyKey: "c-1", stacks: ["blog", "shop"], prepareID: "b-1")))
        #expect(machine.prepareProblem == nil && Self.record(log) == .succeeded, "\(log)")
    }

    @Test("a prepare that fails, is refused, or outlasts its bound: the backup still runs, without a capture, and says why",
          arguments: ["failed", "refused", "bound", "unreachable"])
    func prepareProblems(_ problem: String) {
        var machine = CycleMachine.live(Self.marker())
        var polls = 0
        let world = Self.world()
        let log = Self.play(&machine) { action in
            switch (problem, action) {
            case ("refused", .prepareBackup): return .prepareFailed("HTTP 404")
            case ("failed", .pollPrepare): return .preparePolled(.failed, error: "capture no_space: …")
            case ("bound", .pollPrepare):
                polls += 1
                return polls < 4 ? .preparePolled(.preparing, error: nil) : .prepareBoundReached
            case ("unreachable", .pollPrepare):
                polls += 1
                return polls < 4 ? .pollFailed("connection refused") : .prepareBoundReached
            default: return world(action)
            }
        }
        #expect(log.contains(.stopAll(["blog", "shop"])))
        let start = log.compactMap { if case .startBackup(_, _, let prepareID) = $0 { prepareID } else { nil } }
        // A prepare that never answered has no id; one that failed or is late is named so the agent records why.
        #expect(start == (problem == "refused" ? [] : ["b-1"]))
        #expect(log.contains { if case .startBackup = $0 { true } else { false } })
        #expect(machine.prepareProblem != nil && Self.record(log) == .succeeded, "\(machine.prepareProblem ?? "")")
    }

    @Test("the agent refusing the prepare (409, 429) stops nothing: POST /backup would be refused too")
    func prepareRefused() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine) { action in
            if case .prepareBackup = action { return .prepareRefused("HTTP 409: backup in flight") }
            return Self.world()(action)
        }
        #expect(log == [.prepareBackup(idempotencyKey: "prepare-c-1"), .record(.failed)])
        #expect(machine.failure?.contains("nothing was stopped") == true)
    }

    @Test("the stacks are listed again once prepare is over, and the marker names those, with the prepare's backup id")
    func stacksListedAfterPrepare() {
        var machine = CycleMachine.live(Self.marker())
        let world = Self.world()
        let log = Self.play(&machine) { action in
            if case .listStacks = action { return .stacksListed(stacks: ["blog", "new"], partialBefore: ["new"]) }
            return world(action)
        }
        let written = log.compactMap { if case .writeMarker(let marker) = $0 { marker } else { nil } }.first
        #expect(written?.stacks == ["blog", "new"] && written?.partialBefore == ["new"] && written?.backupID == "b-1")
        #expect(log.contains(.stopAll(["blog", "new"])))
        #expect(log.contains(.restart(stacks: ["blog", "new"], partialBefore: ["new"], shuttingDown: false)))
    }

    @Test("a shutdown while the agent prepares stops nothing, restarts nothing and records the cycle failed")
    func shutdownWhilePreparing() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine) { action in
            if case .pollPrepare = action { return .shutdownRequested }
            return Self.world()(action)
        }
        #expect(!log.contains { if case .stopAll = $0 { true } else if case .writeMarker = $0 { true } else { false } })
        #expect(Self.restarts(log) == 0 && Self.record(log) == .failed)
    }

    @Test("a marker that cannot be written stops nothing")
    func markerFails() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine) { action in
            if case .writeMarker = action { return .markerWriteFailed("disk full") }
            return Self.world()(action)
        }
        #expect(log.count == 5 && Self.record(log) == .failed && machine.failure?.contains("nothing was stopped") == true)
    }

    @Test("a failed stop restarts every marker stack and never starts a backup")
    func stopFails() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine) { action in
            if case .stopAll = action { return .stopFailed(stack: "shop", error: "compose failed") }
            return Self.world()(action)
        }
        #expect(!log.contains { if case .startBackup = $0 { true } else { false } })
        #expect(log.contains(.restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: false)))
        #expect(Self.record(log) == .failed && machine.failure?.contains("stopping shop") == true)
    }

    @Test("a failed POST /backup without a prepare restarts without a resume report: there is no backup to report on")
    func startFails() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine) { action in
            if case .prepareBackup = action { return .prepareFailed("HTTP 404") }
            if case .startBackup = action { return .startFailed("503") }
            return Self.world()(action)
        }
        #expect(!log.contains { if case .reportResumed = $0 { true } else { false } })
        #expect(Self.restarts(log) == 1 && Self.record(log) == .failed)
    }

    @Test("a failed POST /backup after a prepare reports the resume before the restart: the agent may have taken it in")
    func startFailsPrepared() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine) { action in
            if case .startBackup = action { return .startFailed("timed out") }
            return Self.world()(action)
        }
        let resume = log.firstIndex(of: .reportResumed(backupID: "b-1"))
        let restart = log.firstIndex { if case .restart = $0 { true } else { false } }
        #expect(resume != nil && restart != nil && resume! < restart! && Self.record(log) == .failed)
    }

    @Test("a failed phase reports the resume, then restarts")
    func failedPhase() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine, world: Self.world(phases: [.running, .failed]))
        let resume = log.firstIndex(of: .reportResumed(backupID: "b-1"))
        let restart = log.firstIndex { if case .restart = $0 { true } else { false } }
        #expect(resume != nil && restart != nil && resume! < restart!)
        #expect(machine.consistency == .crash && Self.record(log) == .failed)
    }

    @Test("poll errors are polled again; the bound ends a backup wait with a resume report and a restart")
    func pollErrorsThenBound() {
        var machine = CycleMachine.live(Self.marker())
        var polls = 0
        let log = Self.play(&machine) { action in
            if case .pollBackup = action {
                polls += 1
                return polls < 5 ? .pollFailed("refused") : .boundReached
            }
            return Self.world()(action)
        }
        #expect(polls == 5 && log.contains(.reportResumed(backupID: "b-1")) && Self.restarts(log) == 1)
        #expect(machine.failure?.contains("max_quiesce_seconds") == true && Self.record(log) == .failed)
    }

    @Test("snapshotted releases the guest at once, app-consistent, with no resume report")
    func snapshotted() {
        var machine = CycleMachine.live(Self.marker())
        let log = Self.play(&machine, world: Self.world(phases: [.snapshotted]))
        #expect(!log.contains(.reportResumed(backupID: "b-1")) && machine.consistency == .app && Self.record(log) == .succeeded)
    }

    @Test("a shutdown during the stops restarts what the marker names, within the shutdown budget")
    func shutdownWhileStopping() {
        var machine = CycleMachine.live(Self.marker())
        Self.prepare(&machine)
        _ = machine.handle(.markerWritten)
        #expect(machine.handle(.shutdownRequested) == [.restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: true)])
        #expect(machine.handle(.restartFinished(stillDown: ["shop"])) == [.record(.failed)], "a stack still down keeps the marker")
    }

    @Test("a shutdown while a backup runs reports the resume and restarts")
    func shutdownWhilePolling() {
        var machine = CycleMachine.live(Self.marker())
        _ = Self.play(&machine, limit: 7, world: Self.world(phases: [.running]))
        #expect(machine.handle(.shutdownRequested) == [.reportResumed(backupID: "b-1")])
        #expect(machine.handle(.resumeReported(.crash)) == [.restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: true)])
    }

    @Test("rollback: the marker says a rollback was requested before POST /rollback, and the stacks wait for done")
    func rollbackHappy() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        let log = Self.play(&machine, world: Self.world())
        let requested = Self.marker(.rollback) { $0.rollbackRequested = true }
        let post = log.firstIndex(of: .startRollback(backupID: "b-20261125T020000Z-0000aaaa", idempotencyKey: "c-1", afterInterval: false))
        #expect(post != nil && log[post! - 1] == .writeMarker(requested))
        #expect(log.contains(.writeMarker(Self.marker(.rollback) { $0.rollbackRequested = true; $0.rollbackOpID = "r-1" })))
        #expect(Self.restarts(log) == 1 && Self.record(log) == .succeeded)
    }

    @Test("rollback: the stacks stay down through any number of poll errors; the restart comes only with a final phase")
    func rollbackUnreachableAgent() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        var polls = 0
        let log = Self.play(&machine, limit: 500) { action in
            if case .pollRollback = action {
                polls += 1
                return polls < 300 ? .pollFailed("refused") : .rollbackPolled(.done, error: nil)
            }
            return Self.world()(action)
        }
        let firstRestart = log.firstIndex { if case .restart = $0 { true } else { false } }!
        #expect(log[..<firstRestart].filter { if case .pollRollback = $0 { true } else { false } }.count == 300)
        #expect(Self.record(log) == .succeeded)
    }

    @Test("rollback at the bound: cancel on the agent, keep polling while it runs, restart once it is final")
    func rollbackBound() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        _ = Self.play(&machine, limit: 7, world: Self.world(rollback: [.running]))
        #expect(machine.handle(.boundReached) == [.cancelRollback(opID: "r-1"), .pollRollback(opID: "r-1", afterInterval: false)])
        #expect(machine.handle(.rollbackPolled(.running, error: nil)) == [.pollRollback(opID: "r-1", afterInterval: true)], "no restart while it runs")
        #expect(machine.handle(.boundReached) == [], "the bound is reached once")
        #expect(machine.handle(.rollbackPolled(.failed, error: "cancelled")) == [.restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: false)])
        #expect(machine.handle(.restartFinished(stillDown: [])) == [.clearMarker, .record(.failed)])
        #expect(machine.failure?.contains("max_quiesce_seconds") == true)
    }

    @Test("rollback on shutdown: cancel, and if the op is not final within the budget, leave the stacks down and the marker")
    func rollbackShutdown() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        _ = Self.play(&machine, limit: 7, world: Self.world(rollback: [.running]))
        #expect(machine.handle(.shutdownRequested) == [.cancelRollback(opID: "r-1"), .pollRollback(opID: "r-1", afterInterval: false)])
        #expect(machine.handle(.pollFailed("refused")) == [.pollRollback(opID: "r-1", afterInterval: true)])
        #expect(machine.handle(.shutdownBudgetSpent) == [.record(.failed)], "no restart, no clearMarker")
        #expect(machine.isFinished)
    }

    @Test("rollback whose POST lost its answer: ask again under the same key, never restart without a definite answer")
    func rollbackStartLost() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        var posts: [Action] = []
        var polls = 0
        let log = Self.play(&machine) { action in
            switch action {
            case .startRollback:
                posts.append(action)
                return posts.count < 4 ? .startFailed("connection reset", definite: false) : .rollbackStarted(opID: "r-9")
            case .pollRollback:
                polls += 1
                return .rollbackPolled(polls < 3 ? .running : .done, error: nil)
            default: return Self.world()(action)
            }
        }
        let retry = Action.startRollback(backupID: "b-20261125T020000Z-0000aaaa", idempotencyKey: "c-1", afterInterval: true)
        #expect(posts.count == 4 && posts.dropFirst().allSatisfy { $0 == retry })
        let firstRestart = log.firstIndex { if case .restart = $0 { true } else { false } }!
        #expect(log[..<firstRestart].contains(.pollRollback(opID: "r-9", afterInterval: true)) && polls == 3 && Self.restarts(log) == 1)
        #expect(Self.record(log) == .succeeded)
    }

    @Test("rollback refused outright (4xx) on the first POST: nothing started, the stacks restart")
    func rollbackRefused() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        let log = Self.play(&machine) { action in
            if case .startRollback = action { return .startFailed("409 conflict", definite: true) }
            return Self.world()(action)
        }
        #expect(Self.restarts(log) == 1 && Self.record(log) == .failed)
    }

    @Test("rollback: a retry under the same key refused outright asks for the guest's newest op, and waits while it runs")
    func rollbackRetryRefused() {
        func play(newest: RollbackPhase?) -> (log: [Action], machine: CycleMachine) {
            var machine = CycleMachine.live(Self.marker(.rollback))
            var posts = 0
            let log = Self.play(&machine) { action in
                switch action {
                case .startRollback:
                    posts += 1
                    return .startFailed(posts == 1 ? "timeout" : "409 conflict", definite: posts > 1)
                case .findRollbackOp: return .rollbackOpFound(opID: newest.map { _ in "r-7" }, phase: newest)
                case .pollRollback: return .rollbackPolled(.done, error: nil)
                default: return Self.world()(action)
                }
            }
            return (log, machine)
        }
        let none = play(newest: nil)
        #expect(none.log.contains(.findRollbackOp(afterInterval: false)) && Self.restarts(none.log) == 1)
        #expect(Self.record(none.log) == .failed && none.machine.failure?.contains("refused") == true)

        let running = play(newest: .running)
        let firstRestart = running.log.firstIndex { if case .restart = $0 { true } else { false } }!
        #expect(running.log[..<firstRestart].contains(.pollRollback(opID: "r-7", afterInterval: true)))
        #expect(Self.restarts(running.log) == 1 && Self.record(running.log) == .failed,
                "the op it waited for may not be this cycle's rollback, so the cycle does not claim it")
    }

    @Test("rollback: shutdown or the bound while a POST has no answer posts no more; it finds the op, cancels it, or leaves the stacks down")
    func rollbackInterruptedWithoutAnswer() {
        func unanswered() -> CycleMachine {
            var machine = CycleMachine.live(Self.marker(.rollback))
            _ = Self.play(&machine, limit: 5) { action in
                if case .startRollback = action { return .startFailed("timeout", definite: false) }
                return Self.world()(action)
            }
            return machine
        }
        for interruption in [Event.shutdownRequested, .boundReached] {
            var machine = unanswered()
            #expect(machine.handle(interruption) == [.findRollbackOp(afterInterval: false)], "\(interruption)")
            #expect(machine.isWaitingForRollbackOp)
            #expect(machine.handle(.rollbackOpFound(opID: "r-2", phase: .running)) == [
                .writeMarker(Self.marker(.rollback) { $0.rollbackRequested = true; $0.rollbackOpID = "r-2" }),
                .cancelRollback(opID: "r-2"), .pollRollback(opID: "r-2", afterInterval: false),
            ])
            #expect(machine.handle(.rollbackPolled(.failed, error: "cancelled")).contains { if case .restart = $0 { true } else { false } })
        }
        var nothing = unanswered()
        _ = nothing.handle(.boundReached)
        #expect(nothing.handle(.rollbackOpFound(opID: nil, phase: nil)).contains { if case .restart = $0 { true } else { false } },
                "no op exists: nothing can swap the data, so the stacks come back")

        var silent = unanswered()
        _ = silent.handle(.shutdownRequested)
        #expect(silent.handle(.pollFailed("timeout")) == [.findRollbackOp(afterInterval: true)])
        #expect(silent.handle(.shutdownBudgetSpent) == [.record(.failed)])
    }

    @Test("recovery of a backup marker, at each state it can be found in", arguments: [
        // (backup id in the marker, what the agent says, resume report expected, consistency)
        (nil as String?, nil as BackupPhase?, false, nil as BackupConsistency?),
        ("b-1", .running, true, .crash),
        ("b-1", .snapshotted, false, .app),
        ("b-1", .done, false, .app),
    ])
    func recoverBackup(backupID: String?, phase: BackupPhase?, reports: Bool, consistency: BackupConsistency?) {
        var machine = CycleMachine.recovering(Self.marker { $0.backupID = backupID; $0.partialBefore = nil })
        let log = Self.play(&machine, world: Self.world(phases: [phase ?? .running]))
        #expect(log.first == .waitForOrphanedOperations(["blog", "shop"]))
        #expect(log.contains(.reportResumed(backupID: "b-1")) == reports)
        #expect(log.contains(.restart(stacks: ["blog", "shop"], partialBefore: ["blog", "shop"], shuttingDown: false)),
                "a marker without partial_before accepts partial stacks, as the version that wrote it did")
        #expect(machine.consistency == consistency && Self.record(log) == .recovered)
    }

    @Test("recovery of a backup marker when the agent does not answer: report the resume and restart")
    func recoverBackupAgentDown() {
        var machine = CycleMachine.recovering(Self.marker { $0.backupID = "b-1" })
        let log = Self.play(&machine) { action in
            if case .pollBackup = action { return .pollFailed("refused") }
            return Self.world()(action)
        }
        #expect(log.contains(.reportResumed(backupID: "b-1")) && Self.restarts(log) == 1)
    }

    @Test("recovery of a rollback marker, at each state it can be found in", arguments: [
        // (requested, op id, the latest op the agent knows, polls before final): the restart waits for a final op
        (false, nil as String?, nil as RollbackPhase?, 0),
        (true, nil, nil, 0),
        (true, nil, .running, 3),
        (true, "r-1", nil, 3),
    ])
    func recoverRollback(requested: Bool, opID: String?, latest: RollbackPhase?, polls: Int) {
        var machine = CycleMachine.recovering(Self.marker(.rollback) { $0.rollbackRequested = requested; $0.rollbackOpID = opID })
        var polled = 0
        var sawRestartWhileRunning = false
        var running = polls > 0
        let log = Self.play(&machine) { action in
            switch action {
            case .findRollbackOp: return .rollbackOpFound(opID: latest == nil ? nil : "r-1", phase: latest)
            case .pollRollback:
                polled += 1
                running = polled < polls
                return .rollbackPolled(running ? .running : .done, error: nil)
            case .restart:
                sawRestartWhileRunning = sawRestartWhileRunning || running
                return .restartFinished(stillDown: [])
            default: return Self.world()(action)
            }
        }
        #expect(!sawRestartWhileRunning && polled == polls && Self.restarts(log) == 1 && Self.record(log) == .recovered)
    }

    @Test("rollback: if rollback_requested cannot be written, no POST /rollback is sent and the stacks restart")
    func rollbackRequestUnwritten() {
        var machine = CycleMachine.live(Self.marker(.rollback))
        var writes = 0
        let log = Self.play(&machine) { action in
            if case .writeMarker = action {
                writes += 1
                return writes == 2 ? .markerWriteFailed("read-only file system") : .markerWritten
            }
            return Self.world()(action)
        }
        #expect(!log.contains { if case .startRollback = $0 { true } else { false } })
        #expect(Self.restarts(log) == 1 && Self.record(log) == .failed)
    }

    @Test("the bound passing during the stops ends the cycle there: nothing is started on the agent")
    func boundWhileStopping() {
        var machine = CycleMachine.live(Self.marker())
        Self.prepare(&machine)
        _ = machine.handle(.markerWritten)
        #expect(machine.handle(.boundReached) == [.restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: false)])
    }

    @Test("a marker from a release without rollback_requested is treated as requested: recovery asks the agent")
    func recoverOldRollbackMarker() {
        var machine = CycleMachine.recovering(Self.marker(.rollback))
        #expect(machine.start() == [.waitForOrphanedOperations(["blog", "shop"]), .findRollbackOp(afterInterval: false)])
    }

    @Test("an op the agent does not know ends the wait; a cycle another process took over neither restarts nor records")
    func unknownOpAndTakeover() {
        var unknown = CycleMachine.recovering(Self.marker(.rollback) { $0.rollbackOpID = "r-1" })
        _ = unknown.start()
        #expect(unknown.handle(.rollbackOpUnknown) == [.restart(stacks: ["blog", "shop"], partialBefore: [], shuttingDown: false)])
        var taken = CycleMachine.recovering(Self.marker(.rollback) { $0.rollbackOpID = "r-1" })
        _ = taken.start()
        #expect(taken.handle(.markerTakenOver) == [] && taken.isFinished && taken.abandoned)
    }

    @Test("recover --force restarts a rollback marker's stacks without asking the agent")
    func recoverForce() {
        var machine = CycleMachine.recovering(Self.marker(.rollback) { $0.rollbackOpID = "r-1" }, force: true)
        let log = Self.play(&machine, world: Self.world())
        #expect(!log.contains { if case .pollRollback = $0 { true } else { false } } && Self.restarts(log) == 1)
    }
}
