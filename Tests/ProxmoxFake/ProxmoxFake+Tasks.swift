import Foundation
import Synchronization

/// Worker tasks: starting them, ending them as PVE's fork_worker does, and the `/nodes/{node}/tasks` endpoints.
extension ProxmoxFake {
    /// Every task so far, oldest first.
    public var tasks: [FakeTask] {
        state.withLock { state in
            state.tasks.map {
                FakeTask(upid: $0.upid.text, type: $0.upid.type, id: $0.upid.id, user: $0.upid.user,
                         startTime: $0.upid.startTime, running: $0.running, exitStatus: $0.exitStatus, log: $0.log)
            }
        }
    }

    /// How many vzdump tasks were started that include `vmid`.
    public func vzdumpStarts(vmid: Int) -> Int {
        state.withLock { $0.tasks.filter { $0.upid.type == "vzdump" && $0.vmids.contains(vmid) }.count }
    }

    /// Simulates SIGKILL of a running task's worker: stopped at once with exitstatus `unexpected status` and
    /// no `TASK` line. Whatever it had done stays: for vzdump, `lock: backup`, the `vzdump` snapshot and the
    /// `*.tar.dat` leftover (which the content list does not show). The node's vzdump lock, an flock, is released.
    public func killTask(_ upid: String) {
        state.withLock { state in
            _ = state.withTask(upid) { task in
                guard task.running else { return }
                task.killed = true
                task.exitStatus = "unexpected status"
                task.endTime = Int(Date().timeIntervalSince1970)
            }
            state.releaseVzdumpLock(upid)
        }
    }

    /// Forks a worker and returns its UPID text. `body` throws ``TaskEnd`` to end other than with `TASK OK`.
    func startTask(
        type: String, id: String, vmids: [Int] = [], user: String,
        _ body: @escaping @Sendable (TaskContext) async throws -> Void
    ) -> String {
        let upid = state.withLock { state -> UPID in
            state.nextPID += Int.random(in: 1...40)
            let now = Int(Date().timeIntervalSince1970)
            state.lastStartTime = now
            // pstart is the process start in jiffies since boot; any 8-digit hex value that grows will do.
            let pstart = 0x0100_0000 + state.nextPID * 97
            let upid = UPID(node: node, pid: state.nextPID, pstart: pstart, startTime: now, type: type, id: id, user: user)
            state.tasks.append(FakeState.WorkerTask(upid: upid, vmids: vmids))
            return upid
        }
        let context = TaskContext(fake: self, upid: upid.text)
        spawn {
            let failure: String?
            do {
                try await body(context)
                failure = nil
            } catch TaskEnd.killed {
                return
            } catch TaskEnd.interrupted {
                failure = "interrupted by signal"
            } catch TaskEnd.failed(let message) {
                failure = message
            } catch {
                failure = "\(error)"
            }
            self.endTask(upid.text, failure: failure)
        }
        return upid.text
    }

    /// Writes the `TASK` line; the exit status is what PVE would read back from it.
    private func endTask(_ upid: String, failure: String?) {
        state.withLock { state in
            _ = state.withTask(upid) { task in
                guard !task.killed, task.running else { return }
                if let failure {
                    task.log.append("TASK ERROR: \(failure)")
                    task.exitStatus = failure
                } else if task.warnings > 0 {
                    task.log.append("TASK WARNINGS: \(task.warnings)")
                    task.exitStatus = "WARNINGS: \(task.warnings)"
                } else {
                    task.log.append("TASK OK")
                    task.exitStatus = "OK"
                }
                task.endTime = Int(Date().timeIntervalSince1970)
            }
            state.releaseVzdumpLock(upid)
        }
    }

    // MARK: - Endpoints

    func taskRoutes(_ request: APIRequest) throws(ProxmoxError) -> Reply? {
        if request.method == "GET", let path = request.match("nodes/{node}/tasks") {
            return try listTasks(request, path)
        }
        guard let path = request.match("nodes/{node}/tasks/{upid}") ?? request.match("nodes/{node}/tasks/{upid}/{leaf}") else {
            return nil
        }
        let leaf = path["leaf"]
        let pathParams = path.filter { $0.key != "leaf" }
        let schema = ParameterSchema(properties: [
            "node": .string, "upid": .string, "start": .integer(minimum: 0), "limit": .integer(minimum: 0),
        ].filter { leaf == "log" || !["start", "limit"].contains($0.key) })
        switch (request.method, leaf) {
        case ("GET", nil):
            _ = try schema.validate(request.params.merging(pathParams) { $1 })
            return Reply(.array([.object([("name", .string("log"))]), .object([("name", .string("status"))])]))
        case ("GET", "status"):
            _ = try schema.validate(request.params.merging(pathParams) { $1 })
            return Reply(taskStatus(try knownTask(path["upid"] ?? "")))
        case ("GET", "log"):
            let params = try schema.validate(request.params.merging(pathParams) { $1 })
            return taskLog(try knownTask(path["upid"] ?? ""), params)
        case ("DELETE", nil):
            _ = try schema.validate(request.params.merging(pathParams) { $1 })
            let upid = try knownTask(path["upid"] ?? "").upid.text
            state.withLock { state in _ = state.withTask(upid) { if $0.running { $0.stopRequested = true } } }
            return Reply(.null)
        default:
            return nil
        }
    }

    private func knownTask(_ text: String) throws(ProxmoxError) -> FakeState.WorkerTask {
        guard UPID(parsing: text) != nil else { throw .parameter("upid", "unable to parse worker upid") }
        // Unsure: the research names "no such task" for status; the fake uses it for the log as well.
        guard let task = state.withLock({ $0.task(text) }) else { throw .parameter("upid", "no such task") }
        return task
    }

    /// For token tasks `user` and `tokenid` are split, as the research says of the status call.
    /// Unsure: that the task list splits them too (`$convert_token_task`, recalled rather than read).
    private func identity(_ upid: UPID) -> [(String, JSONValue)] {
        let parts = upid.user.split(separator: "!", maxSplits: 1).map(String.init)
        var members: [(String, JSONValue)] = [("user", .string(parts[0]))]
        if parts.count == 2 { members.append(("tokenid", .string(parts[1]))) }
        return members
    }

    private func taskStatus(_ task: FakeState.WorkerTask) -> JSONValue {
        let upid = task.upid
        var members: [(String, JSONValue)] = [
            ("upid", .string(upid.text)), ("node", .string(upid.node)), ("pid", .int(upid.pid)),
            ("pstart", .int(upid.pstart)), ("starttime", .int(upid.startTime)), ("type", .string(upid.type)),
            ("id", .string(upid.id)),
        ]
        members += identity(upid)
        members.append(("status", .string(task.running ? "running" : "stopped")))
        if let exit = task.exitStatus { members.append(("exitstatus", .string(exit))) }
        return .object(members)
    }

    /// Lines numbered from 1; an empty log reads as one line "no content".
    private func taskLog(_ task: FakeState.WorkerTask, _ params: Parameters) -> Reply {
        let start = params.int("start") ?? 0
        let limit = params.int("limit").flatMap { $0 == 0 ? nil : $0 } ?? 50
        guard !task.log.isEmpty else {
            return Reply(.array([.object([("n", .int(1)), ("t", .string("no content"))])]), total: 1)
        }
        let lines = task.log.enumerated().dropFirst(start).prefix(limit).map {
            JSONValue.object([("n", .int($0.offset + 1)), ("t", .string($0.element))])
        }
        return Reply(.array(Array(lines)), total: task.log.count)
    }

    /// Newest first. `source` defaults to `archive`, which lists only ended tasks, as in pve-manager.
    /// Unsure: the exact merge order of active and archived tasks for `source=all`; the fake sorts by start.
    private func listTasks(_ request: APIRequest, _ path: [String: String]) throws(ProxmoxError) -> Reply {
        let params = try ParameterSchema(properties: [
            "node": .string, "start": .integer(minimum: 0), "limit": .integer(minimum: 0),
            "source": .enumeration(["archive", "active", "all"]), "typefilter": .string,
            "vmid": .integer(minimum: 100), "userfilter": .string, "errors": .boolean,
            "since": .integer(minimum: nil), "until": .integer(minimum: nil), "statusfilter": .string,
        ]).validate(request.params.merging(path) { $1 })
        let source = params["source"] ?? "archive"
        let all = state.withLock { $0.tasks }.enumerated().sorted {
            ($0.element.upid.startTime, $0.offset) > ($1.element.upid.startTime, $1.offset)
        }.map(\.element)
        let matching = all.filter { task in
            switch source {
            case "active": guard task.running else { return false }
            case "archive": guard !task.running else { return false }
            default: break
            }
            if let type = params["typefilter"], task.upid.type != type { return false }
            if let vmid = params["vmid"], task.upid.id != vmid { return false }
            if let user = params["userfilter"], !task.upid.user.lowercased().contains(user.lowercased()) { return false }
            if params.bool("errors") == true, task.exitStatus == "OK" { return false }
            if let since = params.int("since"), task.upid.startTime < since { return false }
            if let until = params.int("until"), task.upid.startTime > until { return false }
            return true
        }
        let start = params.int("start") ?? 0
        let limit = params.int("limit").flatMap { $0 == 0 ? nil : $0 } ?? 50
        let items = matching.dropFirst(start).prefix(limit).map { task -> JSONValue in
            let upid = task.upid
            var members: [(String, JSONValue)] = [
                ("upid", .string(upid.text)), ("node", .string(upid.node)), ("pid", .int(upid.pid)),
                ("pstart", .int(upid.pstart)), ("starttime", .int(upid.startTime)), ("type", .string(upid.type)),
                ("id", .string(upid.id)),
            ]
            members += identity(upid)
            if let end = task.endTime { members.append(("endtime", .int(end))) }
            if let exit = task.exitStatus { members.append(("status", .string(exit))) }
            return .object(members)
        }
        return Reply(.array(Array(items)), total: matching.count)
    }
}
