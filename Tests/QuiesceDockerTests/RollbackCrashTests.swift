import AgentAPI
import DockerTesting
import Foundation
import Quiesce
import Stacks
import TestSupport
import Testing

/// A rollback cycle never lets an app run on a data dir the agent may still swap: not after a
/// crash, not at the bound, not on SIGTERM. Real engine, real agent, a backup of over 1 GiB.
@Suite("Rollback cycles under crashes, the bound and SIGTERM (needs docker)", .needsDocker)
struct RollbackCrashTests {
    struct Guest {
        let fx: FixtureStacks
        let agent: AgentHarness
        let client: AgentClient
        let controller: ControllerHarness
        let backupID: String
        let backupTree: String
        let originalTree: String

        var payload: String { fx.directory("webapp") + "/data/payload" }
        var live: String { fx.directory("webapp") + "/data" }
    }

    /// webapp up, 1 GiB beside its data, a backup of it, then the data changed: the "original" a rollback replaces.
    static func guest(_ fx: FixtureStacks, maxQuiesceSeconds: Double = 600, quiesceEnabled: Bool = false) async throws -> Guest {
        try await Docker.up(fx, "webapp")
        try writePayload(fx.directory("webapp") + "/data/payload", version: "backup")
        // Zeros: the size makes extraction and the pre-rollback backup last, without slowing the hashing of the payload.
        let bulk = fx.directory("webapp") + "/data/bulk.bin"
        FileManager.default.createFile(atPath: bulk, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: bulk))
        let block = Data(count: 8 << 20)
        for _ in 0..<129 { try handle.write(contentsOf: block) }
        try handle.close()

        let agent = try await AgentHarness(keepLast: 50)
        let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
        try await agent.start()
        let client = try agent.client(token: token)
        let controller = try ControllerHarness(
            fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token,
            statusPollSeconds: 0.2, maxQuiesceSeconds: maxQuiesceSeconds, quiesceEnabled: quiesceEnabled)
        let backupID = try await client.startBackup(idempotencyKey: "base", .init(quiesced: false, stacks: [])).response.backupID
        #expect(try await agent.waitForFinish(client, backupID: backupID).phase == .done)
        let backupTree = try await TreeFingerprint.of(fx.directory("webapp") + "/data/payload")
        try writePayload(fx.directory("webapp") + "/data/payload", version: "original")
        let originalTree = try await TreeFingerprint.of(fx.directory("webapp") + "/data/payload")
        return Guest(fx: fx, agent: agent, client: client, controller: controller, backupID: backupID, backupTree: backupTree, originalTree: originalTree)
    }

    static func writePayload(_ path: String, version: String) throws {
        try? FileManager.default.removeItem(atPath: path)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        try Data("\(version)\n".utf8).write(to: URL(fileURLWithPath: path + "/version.txt"))
        // The same bytes every time, so each round's original matches the first.
        try Data(String(repeating: version, count: 512).utf8).write(to: URL(fileURLWithPath: path + "/\(version).bin"))
    }

    /// Samples, until `stop` is set, whether an app container runs while the agent's newest rollback op
    /// is queued or running. The container is read first: an op not final after a running container was
    /// seen was not final when it was seen either.
    final class SwapWatch: @unchecked Sendable {
        private let lock = NSLock()
        private var violations: [String] = []
        private var samples = 0
        private var stopped = false

        func run(_ guest: Guest) async {
            while !isStopped {
                let running = (try? await Docker.run(
                    ["ps", "-q", "--filter", "label=com.docker.compose.project=\(guest.fx.name("webapp"))", "--filter", "status=running"]
                ).standardOutput.isEmpty == false) ?? false
                let op = try? await guest.client.latestRollbackStatus()
                lock.withLock {
                    samples += 1
                    if running, let op, !op.phase.isFinal { violations.append("\(op.opID) \(op.phase.rawValue) while the app ran") }
                }
                try? await Task.sleep(for: .milliseconds(100))
            }
        }

        var isStopped: Bool { lock.withLock { stopped } }
        func stop() -> (samples: Int, violations: [String]) {
            lock.withLock {
                stopped = true
                return (samples, violations)
            }
        }
    }

    /// After the cycle: the app runs, a write from inside it lands in the live data dir, and the
    /// payload is exactly the backup's or the original. Returns which.
    static func check(_ guest: Guest, probe: String) async throws -> (tree: String?, probeLanded: Bool, running: Bool) {
        let statuses = try await guest.controller.statuses()
        let running = statuses[guest.fx.name("webapp")] == "running"
        let wrote = try await Docker.run(
            ["compose", "--project-name", guest.fx.name("webapp"), "exec", "-T", "worker", "sh", "-c", "echo \(probe) > /data/\(probe)"],
            in: guest.fx.directory("webapp"))
        let landed = wrote.exitCode == 0 && (try? String(contentsOfFile: guest.live + "/\(probe)", encoding: .utf8)) == "\(probe)\n"
        try? FileManager.default.removeItem(atPath: guest.live + "/\(probe)")
        let tree = try await TreeFingerprint.of(guest.payload)
        let which = tree == guest.backupTree ? "backup" : tree == guest.originalTree ? "original" : nil
        return (which, landed, running)
    }

    static let points: [(name: String, failpoint: String)] = [
        ("after the marker", ControllerFailpoint.afterMarker),
        ("during the stops", ControllerFailpoint.afterFirstStop),
        ("after POST /rollback", ControllerFailpoint.afterStart),
        ("while polling", ControllerFailpoint.polling),
        ("during the restarts", ControllerFailpoint.restarting),
    ]

    @Test("SIGKILL the controller at each point of a rollback cycle, 3 times: recovery never runs the app during the swap")
    func crashTable() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let guest = try await Self.guest(fx)
            var table: [(String, Int, String)] = []
            for point in Self.points {
                for round in 1...3 {
                    // The previous round's op is final, and the data is the original again.
                    #expect(await eventually(timeout: .seconds(600)) { (try? await guest.client.latestRollbackStatus())?.phase.isFinal ?? true })
                    try Self.writePayload(guest.payload, version: "original")
                    let rollback = try guest.controller.launch(
                        ["rollback", guest.backupID], environment: ["FELHOM_CONTROLLER_FAILPOINT": point.failpoint])
                    let reached = await rollback.waitForLine("failpoint=\(point.failpoint)", timeout: .seconds(300))
                    rollback.stop(signal: SIGKILL)
                    let opAtKill = try? await guest.client.latestRollbackStatus()

                    let watch = SwapWatch()
                    let watching = Task { await watch.run(guest) }
                    let recovered = try await guest.controller.cli(["recover", "--json"])
                    let (samples, violations) = watch.stop()
                    await watching.value
                    let (tree, landed, running) = try await Self.check(guest, probe: "probe-\(round)")
                    let cleared = !FileManager.default.fileExists(atPath: guest.controller.markerPath)

                    #expect(reached, "\(point.name) round \(round): failpoint never reached: \(rollback.log)")
                    if point.failpoint == ControllerFailpoint.afterStart {
                        #expect(opAtKill.map { !$0.phase.isFinal } == true, "round \(round): the op was not in flight at the kill: \(String(describing: opAtKill))")
                    }
                    #expect(recovered.exitCode == 0, "\(point.name) round \(round): \(recovered.standardError)")
                    #expect(violations.isEmpty, "\(point.name) round \(round): \(violations)")
                    #expect(tree != nil && landed && running && cleared,
                            "\(point.name) round \(round): tree \(String(describing: tree)), probe landed \(landed), running \(running), marker cleared \(cleared)")
                    let op = opAtKill.map { "\($0.phase.rawValue) at the kill" } ?? "none"
                    table.append((point.name, round, !reached ? "point not reached"
                        : "\(tree ?? "MIXED") tree; op \(op); \(samples) samples, \(violations.count) with the app up during the op; write landed \(landed)"))
                }
            }
            print("\nSIGKILL point (rollback cycle) | round | afterwards")
            print("-------------------------------|-------|-----------")
            for (name, round, outcome) in table {
                print("\(name.padding(toLength: 30, withPad: " ", startingAt: 0)) | \(round)     | \(outcome)")
            }
        }
    }

    @Test("the bound during a rollback cancels it on the agent: no staging left, the app runs on the original, the record says why")
    func boundCancels() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            // Past the marker's fsync, which can take a while under load, but before the pre-rollback backup of 1 GiB is done.
            let guest = try await Self.guest(fx, maxQuiesceSeconds: 2)
            let watch = SwapWatch()
            let watching = Task { await watch.run(guest) }
            let rolledBack = try await guest.controller.cli(["rollback", guest.backupID, "--json"])
            let (_, violations) = watch.stop()
            await watching.value
            let op = try #require(try await guest.client.latestRollbackStatus())
            let record = try #require(try await guest.controller.cycles().first)
            let (tree, landed, running) = try await Self.check(guest, probe: "probe-bound")
            let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: (fx.stacksDirectory as NSString).deletingLastPathComponent)) ?? [])
                .filter { $0.contains(".felhom-") }

            #expect(violations.isEmpty, "\(violations)")
            if op.phase == .failed {
                #expect(rolledBack.exitCode != 0, "the cycle did not do what was asked: \(rolledBack.standardOutput)")
                #expect(op.error?.contains("cancelled") == true && tree == "original", "\(op)")
                #expect((record["error"] as? String)?.contains("max_quiesce_seconds") == true, "\(record)")
            } else {
                // The cancel came after the journal: the swap finished, and the cycle says so.
                #expect(op.phase == .done && tree == "backup" && rolledBack.exitCode == 0, "\(op) \(rolledBack.standardError)")
            }
            #expect(leftovers.isEmpty, "\(leftovers)")
            #expect(landed && running)
            print("[bound] op \(op.phase.rawValue) (\(op.error ?? "")); data: \(tree ?? "MIXED"); cycle: \(record["outcome"] ?? "") \(record["error"] ?? "")")
        }
    }

    @Test("SIGTERM during a rollback from POST /api/rollback: exit 0 within the shutdown budget, the app never runs during the swap")
    func sigterm() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let guest = try await Self.guest(fx, quiesceEnabled: true)
            let run = try await guest.controller.start()
            let started = try await guest.controller.api("POST", "/api/rollback", body: #"{"backup_id":"\#(guest.backupID)"}"#)
            #expect(started.status == 202, "\(started)")
            #expect(await eventually(timeout: .seconds(120), every: .milliseconds(20)) { (try? await guest.client.latestRollbackStatus()) != nil })
            let watch = SwapWatch()
            let watching = Task { await watch.run(guest) }
            let clock = ContinuousClock()
            let signalled = clock.now
            run.stop(signal: SIGTERM)
            let exitedAfter = signalled.duration(to: clock.now)
            let (_, violations) = watch.stop()
            await watching.value
            let op = try #require(try await guest.client.latestRollbackStatus())
            let (tree, landed, running) = try await Self.check(guest, probe: "probe-term")

            #expect(run.exitStatus == 0, "\(run.log)")
            // The controller gives up waiting at its 60 s budget; past that plus a margin for a loaded machine it hung.
            #expect(exitedAfter < .seconds(150), "exited \(exitedAfter) after SIGTERM")
            #expect(violations.isEmpty, "\(violations)")
            #expect(op.phase.isFinal && ((op.phase == .done && tree == "backup") || (op.phase == .failed && tree == "original")), "\(op), data \(String(describing: tree))")
            #expect(landed && running && !FileManager.default.fileExists(atPath: guest.controller.markerPath))
            print("[sigterm] exited \(exitedAfter) after SIGTERM (budget 60 s); op \(op.phase.rawValue); data: \(tree ?? "MIXED")")
        }
    }
}
