import Foundation

/// Everything the fake node knows, behind one mutex in ``ProxmoxFake``.
struct FakeState: Sendable {
    /// A container: its config (as `/etc/pve/lxc/N.conf` holds it, `lock` included), its root directory and snapshots.
    struct Guest: Sendable {
        var vmid: Int
        var running: Bool
        var config: [String: String]
        var rootfs: String
        var snapshots: [Snapshot] = []
        var startedAt: Date?

        var lock: String? { config["lock"] }
        var hostname: String { config["hostname"] ?? "CT\(vmid)" }
    }

    /// A snapshot: a full copy of the root directory taken when it was made.
    struct Snapshot: Sendable {
        var name: String
        var snaptime: Int
        var description: String
        var parent: String?
        var path: String
    }

    /// A worker task and its log.
    struct WorkerTask: Sendable {
        var upid: UPID
        /// Every guest a vzdump task includes, for `vzdumpStarts(vmid:)`.
        var vmids: [Int]
        var log: [String] = []
        var exitStatus: String?
        var endTime: Int?
        var warnings = 0
        /// `DELETE …/tasks/{upid}` asked it to stop (SIGTERM); the worker cleans up and ends "interrupted by signal".
        var stopRequested = false
        /// `killTask` ended it (SIGKILL): nothing the worker does afterwards may change the node.
        var killed = false

        var running: Bool { exitStatus == nil }
    }

    var guests: [Int: Guest] = [:]
    var tasks: [WorkerTask] = []
    var faults: [FakeFault] = []
    var snapshotAfter: Duration = .milliseconds(200)
    var archiveFor: Duration = .milliseconds(300)
    /// The UPID holding the node's vzdump lock (`/var/run/vzdump.lock`).
    var vzdumpLockHolder: String?
    /// Until when "someone else" holds that lock (`FakeFault.globalLock`).
    var externalLockUntil: ContinuousClock.Instant?
    var nextPID = 1000 + Int.random(in: 0..<50000)
    var lastStartTime = 0

    func task(_ upid: String) -> WorkerTask? {
        tasks.first { $0.upid.text == upid }
    }

    mutating func withTask<T>(_ upid: String, _ body: (inout WorkerTask) -> T) -> T? {
        guard let index = tasks.firstIndex(where: { $0.upid.text == upid }) else { return nil }
        return body(&tasks[index])
    }

    /// Removes and returns the first one-shot fault `pick` accepts.
    mutating func takeFault<T>(_ pick: (FakeFault) -> T?) -> T? {
        for (index, fault) in faults.enumerated() {
            if let value = pick(fault) {
                faults.remove(at: index)
                return value
            }
        }
        return nil
    }

    /// Whether a standing fault `pick` accepts is present.
    func hasFault(_ pick: (FakeFault) -> Bool) -> Bool {
        faults.contains(where: pick)
    }

    /// Takes the vzdump lock for `upid` if nobody holds it.
    mutating func tryVzdumpLock(_ upid: String, now: ContinuousClock.Instant) -> Bool {
        if let until = externalLockUntil {
            if now < until { return false }
            externalLockUntil = nil
        }
        if let holder = vzdumpLockHolder, holder != upid, task(holder)?.running == true { return false }
        vzdumpLockHolder = upid
        return true
    }

    mutating func releaseVzdumpLock(_ upid: String) {
        if vzdumpLockHolder == upid { vzdumpLockHolder = nil }
    }
}
