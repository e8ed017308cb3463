import DurableFiles
import Foundation

/// The crash-safety marker: which stacks a quiesce cycle stopped, written before the first stop.
///
/// While it exists no new cycle starts. A controller that finds it at
/// startup restarts exactly these stacks, then deletes it.
public struct QuiesceMarker: Codable, Sendable, Equatable {
    public var cycleID: String
    public var startedAt: Date
    /// The running app stacks the cycle stops, in stop order.
    public var stacks: [String]
    /// Set once the agent has accepted the backup; for a rollback, the backup restored.
    public var backupID: String?
    /// `backup`, or `rollback`; absent in markers written before rollbacks existed.
    public var kind: CycleKind?
    /// The agent's rollback op, once it has accepted one.
    public var rollbackOpID: String?
    /// Set just before `POST /rollback`: an op may exist even when `rollbackOpID` is not yet known.
    public var rollbackRequested: Bool?
    /// Stacks that were partial before the cycle; every other one must come back fully running.
    public var partialBefore: [String]?
    /// The controller process running the cycle. Recovery leaves a marker alone while that process lives.
    public var ownerPID: Int32?
    /// When that process started, in clock ticks since boot (`/proc/PID/stat`). A pid alone is reused:
    /// a controller container that restarts gets the same few low pids again in its new namespace.
    public var ownerStartTicks: UInt64?

    public init(cycleID: String, startedAt: Date, stacks: [String], backupID: String? = nil, kind: CycleKind = .backup) {
        self.cycleID = cycleID
        self.startedAt = startedAt
        self.stacks = stacks
        self.backupID = backupID
        self.kind = kind
    }

    enum CodingKeys: String, CodingKey {
        case stacks, kind
        case rollbackOpID = "rollback_op_id"
        case rollbackRequested = "rollback_requested"
        case partialBefore = "partial_before"
        case ownerPID = "owner_pid"
        case ownerStartTicks = "owner_start_ticks"
        case cycleID = "cycle_id"
        case startedAt = "started_at"
        case backupID = "backup_id"
    }
}

/// The marker's file: `state_dir/quiesce.marker`, written atomically with mode 0600.
public struct MarkerFile: Sendable {
    public var path: String

    public init(stateDirectory: String) {
        path = stateDirectory + "/quiesce.marker"
    }

    /// The marker, or `nil` when there is none.
    public func read() throws(QuiesceError) -> QuiesceMarker? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if FileManager.default.fileExists(atPath: path) {
                throw QuiesceError(.marker, "\(path) exists but cannot be read; fix its permissions so the stacks it names can be restarted")
            }
            return nil
        }
        do {
            let decoder = JSONDecoder()
            decoder.dateDecodingStrategy = .iso8601
            return try decoder.decode(QuiesceMarker.self, from: data)
        } catch {
            throw QuiesceError(.marker, "\(path) is not a valid marker (\(error)); restart the stacks it lists by hand, then delete it")
        }
    }

    /// Temp file, fsync, rename, fsync of the directory: a crash leaves the old marker or the new one.
    public func write(_ marker: QuiesceMarker) throws(QuiesceError) {
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.dateEncodingStrategy = .iso8601
            try FileManager.default.createDirectory(
                atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try DurableFile.writeAtomically(Array(try encoder.encode(marker)), to: path, mode: 0o600)
        } catch {
            throw QuiesceError(.marker, "writing the quiesce marker \(path): \(error)")
        }
    }

    /// Whether the process that wrote `marker` is a controller still running, so its cycle is live, not crashed.
    ///
    /// The same pid must still be a `felhom-controller` that started when the marker says;
    /// a marker from before start times were recorded is judged by the pid and name alone.
    public static func isOwnedByLiveController(_ marker: QuiesceMarker) -> Bool {
        guard let pid = marker.ownerPID, pid != getpid(),
              let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        let program = data.split(separator: 0, omittingEmptySubsequences: false).first.map { String(decoding: $0, as: UTF8.self) } ?? ""
        guard (program as NSString).lastPathComponent == "felhom-controller" else { return false }
        guard let recorded = marker.ownerStartTicks else { return true }
        return ProcessStart.ticks(of: pid) == recorded
    }

    /// Makes this process the marker's owner.
    public static func claim(_ marker: inout QuiesceMarker) {
        marker.ownerPID = getpid()
        marker.ownerStartTicks = ProcessStart.ticks(of: getpid())
    }

    public func clear() throws(QuiesceError) {
        do {
            try DurableFile.remove(path)
        } catch {
            throw QuiesceError(.marker, "removing the quiesce marker: \(error)")
        }
    }
}

/// A process's start time, which with its pid names it for as long as the machine runs.
enum ProcessStart {
    /// Field 22 of `/proc/PID/stat`, or `nil` when there is no such process.
    static func ticks(of pid: Int32) -> UInt64? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/stat") else { return nil }
        let text = String(decoding: data, as: UTF8.self)
        // The command name in field 2 may hold spaces and parentheses; the fields after its last ")" are plain.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (the state), so field 22 is fields[19].
        return fields.count > 19 ? UInt64(fields[19]) : nil
    }
}
