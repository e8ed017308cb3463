import Foundation
import Quiesce
import TestSupport
import Testing

@Suite("A marker's owner is a live controller only while that very process runs")
struct MarkerOwnerTests {
    /// `sleep` under the controller's name: a live process recovery must take for a running controller.
    /// With `as`, under another path, e.g. one that only has the name in a directory.
    static func withFakeController(as name: String = "felhom-controller", _ body: (Int32) async throws -> Void) async throws {
        let directory = try TemporaryDirectory("felhom-owner")
        let program = directory.path + "/" + name
        try FileManager.default.createDirectory(atPath: (program as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/sleep", toPath: program)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: program)
        process.arguments = ["600"]
        try process.run()
        defer {
            // SIGKILL: a SIGTERM the test runner ignores stays ignored in its children.
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        // Until the exec, /proc shows the forked test runner.
        let pid = process.processIdentifier
        #expect(await eventually(timeout: .seconds(30), every: .milliseconds(5)) {
            (try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8))?.hasPrefix(program) == true
        })
        try await body(pid)
    }

    static func marker(pid: Int32, startTicks: UInt64?) -> QuiesceMarker {
        var marker = QuiesceMarker(cycleID: "c-1", startedAt: Date(), stacks: ["app"])
        marker.ownerPID = pid
        marker.ownerStartTicks = startTicks
        return marker
    }

    /// What `claim` records for the running process `pid`, read the way the marker reads it.
    static func startTicks(of pid: Int32) throws -> UInt64 {
        let stat = try String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)
        let fields = stat[stat.index(after: stat.lastIndex(of: ")")!)...].split(separator: " ")
        return try #require(UInt64(fields[19]))
    }

    @Test("the process that wrote it, still running, owns it")
    func liveOwner() async throws {
        try await Self.withFakeController { pid in
            let started = try Self.startTicks(of: pid)
            #expect(MarkerFile.isOwnedByLiveController(Self.marker(pid: pid, startTicks: started)))
            // Markers from before start times were recorded: the pid and the name decide.
            #expect(MarkerFile.isOwnedByLiveController(Self.marker(pid: pid, startTicks: nil)))
        }
    }

    @Test("the same pid in a later process, as after a container restart, does not own it")
    func reusedPid() async throws {
        try await Self.withFakeController { pid in
            let started = try Self.startTicks(of: pid)
            #expect(!MarkerFile.isOwnedByLiveController(Self.marker(pid: pid, startTicks: started - 1)))
        }
    }

    @Test("a process that only has felhom-controller in its path, or our own process, does not own it")
    func otherProcesses() async throws {
        try await Self.withFakeController(as: "felhom-controller/sleep") { pid in
            #expect(!MarkerFile.isOwnedByLiveController(Self.marker(pid: pid, startTicks: nil)))
        }
        var mine = Self.marker(pid: 0, startTicks: nil)
        MarkerFile.claim(&mine)
        #expect(mine.ownerPID == getpid() && mine.ownerStartTicks != nil)
        #expect(!MarkerFile.isOwnedByLiveController(mine))
    }
}
