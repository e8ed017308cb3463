import Foundation

/// A task id as Proxmox writes it: `UPID:node:PID:PSTART:STARTTIME:type:id:user:`.
struct UPID: Sendable, Equatable, CustomStringConvertible {
    var text: String
    var node: String
    var startTime: Int
    var type: String
    var id: String
    /// The full user, with a token's `!TOKENID`.
    var user: String

    /// `nil` for anything that is not a UPID; `pstart` may have 9 hex digits after 497 days of uptime.
    init?(_ text: String) {
        let fields = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard fields.count == 9, fields[0] == "UPID", fields[8].isEmpty, !fields[1].isEmpty,
              fields[2].count == 8, UInt32(fields[2], radix: 16) != nil,
              (8...9).contains(fields[3].count), UInt64(fields[3], radix: 16) != nil,
              fields[4].count == 8, let start = Int(fields[4], radix: 16),
              !fields[5].isEmpty, !fields[7].isEmpty else { return nil }
        self.text = text
        node = fields[1]
        startTime = start
        type = fields[5]
        id = fields[6]
        user = fields[7]
    }

    var description: String { text }
}

/// `GET /nodes/{node}/tasks/{upid}/status`.
struct TaskStatus: Decodable, Sendable {
    var status: String
    /// Present once `status` is `stopped`: `OK`, `WARNINGS: n`, or the error.
    var exitstatus: String?

    var isRunning: Bool { status == "running" }

    /// `OK` and `WARNINGS: n` are both success.
    static func succeeded(_ exitStatus: String) -> Bool {
        exitStatus == "OK" || exitStatus.hasPrefix("WARNINGS:")
    }
}

/// One entry of `GET /nodes/{node}/tasks`.
struct TaskListItem: Decodable, Sendable {
    var upid: String
    var type: String?
    var id: String?
    var starttime: Int?
    /// The exit status, for a task that ended.
    var status: String?
    var endtime: Int?
}

/// One line of `GET /nodes/{node}/tasks/{upid}/log`.
struct TaskLogLine: Decodable, Sendable {
    var n: Int
    var t: String
}

/// Follows one task on the node: its log as it grows, and its end.
struct ProxmoxTask: Sendable {
    let client: ProxmoxClient
    let node: String
    let upid: String
    var every: Duration = .milliseconds(400)

    private var path: String { "/nodes/\(node)/tasks/\(ProxmoxClient.segment(upid))" }

    func status() async throws(ProxmoxError) -> TaskStatus {
        try await client.get(path + "/status", as: TaskStatus.self)
    }

    /// Lines after the first `seen` ones.
    func log(after seen: Int) async throws(ProxmoxError) -> [TaskLogLine] {
        let lines = try await client.get(path + "/log", query: [("start", "\(seen)"), ("limit", "1000")], as: [TaskLogLine].self)
        // An empty log reads as one line, "no content".
        if seen == 0, lines.count == 1, lines[0].n == 1, lines[0].t == "no content" { return [] }
        return lines.filter { $0.n > seen }
    }

    /// Polls until the task stops, handing each new log line to `onLine` in order, and returns its
    /// exit status. The log is read once more after the stop, so no last line is missed. An API that
    /// is unavailable is waited out for up to `patience`: the task runs on without us meanwhile.
    func follow(patience: Duration = .seconds(1800), onLine: (String) async -> Void) async throws(ProxmoxError) -> String {
        var seen = 0
        var unavailableSince: ContinuousClock.Instant?
        while true {
            if Task.isCancelled { throw ProxmoxError(.cancelled, "stopped following \(upid)") }
            do throws(ProxmoxError) {
                let lines = try await log(after: seen)
                for line in lines { await onLine(line.t) }
                seen = lines.last?.n ?? seen
                let current = try await status()
                unavailableSince = nil
                if !current.isRunning {
                    for line in try await log(after: seen) { await onLine(line.t) }
                    return current.exitstatus ?? "unexpected status"
                }
            } catch where error.isUnavailable {
                let since = unavailableSince ?? .now
                unavailableSince = since
                if since.duration(to: .now) > patience { throw error }
            }
            try? await Task.sleep(for: every)
        }
    }

    /// The log's `ERROR:` lines, for a failed task's reason.
    func errorLines() async -> [String] {
        ((try? await log(after: 0)) ?? []).map(\.t).filter { $0.hasPrefix("ERROR:") }
    }
}
