import AgentAPI
import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Fast capture on the real engine against a real agent (needs docker)", .needsDocker)
struct CaptureDockerTests {
    /// The numbers in a counter's log, in order.
    static func counts(_ path: String) throws -> [Int] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap { Int($0) }
    }

    @Test("the archive holds the counter exactly as the app left it on SIGTERM and nothing it wrote after its restart, though the archive ran after it")
    func appConsistent() async throws {
        try await withFixtureStacks(["counter", "traefik"]) { fx in
            try await Docker.up(fx, "counter")
            try await Docker.up(fx, "traefik")
            let log = fx.directory("counter") + "/data/count.log"
            #expect(await eventually(timeout: .seconds(60)) { ((try? Self.counts(log)) ?? []).count > 5 }, "the counter never counted")
            // Enough data that the archive outlasts the restart by seconds: the app writes all through it.
            let bulk = try await SubprocessCommandRunner().run(DockerCommand(
                executable: "dd", arguments: ["if=/dev/urandom", "of=\(fx.directory("counter"))/data/bulk.bin", "bs=1M", "count=400", "status=none"],
                timeout: .seconds(300)))
            #expect(bulk.succeeded, "\(bulk.standardError)")

            let agent = try await AgentHarness()
            let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
            try await agent.start()
            let controller = try ControllerHarness(fixtures: fx, agentURL: agent.baseURL, pin: agent.pin, guestToken: token)
            let (_, cycle) = try await controller.firstCycle()
            #expect(cycle["outcome"] as? String == "succeeded", "\(cycle)")
            #expect(cycle["consistency"] as? String == "app")
            let method = cycle["capture_method"] as? String
            #expect(method == "copy" || method == "reflink" || method == "snapshot", "\(cycle)")
            #expect(cycle["capture_reason"] is NSNull || cycle["capture_reason"] == nil, "\(cycle)")

            let backupID = try #require(cycle["backup_id"] as? String)
            let client = try agent.client(token: token)
            let done = try await agent.waitForFinish(client, backupID: backupID)
            #expect(done.phase == .done && done.consistency == .app, "\(done.error ?? "")")
            let restored = agent.root.path + "/restored"
            let restore = try await agent.cli(["restore", backupID, "--to", restored])
            #expect(restore.exitCode == 0, "\(restore.standardError)")

            let data = "\(restored)/\(fx.name("counter"))/data"
            let last = try #require(Int(try String(contentsOfFile: data + "/last", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
            let archived = try Self.counts(data + "/count.log")
            #expect(archived.last == last, "the archived log ends at \(archived.last ?? -1); the app said \(last) on SIGTERM")
            #expect(archived == Array(1...last), "the archived log is not 1…\(last) in order")
            // The app ran on, and wrote, while the archive was being written; none of that is in it.
            let live = try Self.counts(log)
            #expect(live.count > archived.count, "the app wrote nothing after its restart: \(live.count) lines")
            let downtime = (cycle["downtime_ms"] as? [String: Int])?[fx.name("counter")] ?? -1
            print("[capture] counter: down \(downtime) ms; window \(done.captureWindowMs ?? -1) ms, archive \(done.archiveMs ?? -1) ms; \(live.count - archived.count) lines written after the restart, none archived")
        }
    }
}
