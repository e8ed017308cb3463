import Foundation
import Synchronization

/// One `POST /nodes/{node}/vzdump`: its checked options, and the worker that runs the job
/// (pve-manager's `API2/VZDump.pm`, `PVE/VZDump.pm`; pve-container's `VZDump/LXC.pm`).
struct VzdumpJob: Sendable {
    let fake: ProxmoxFake
    /// Local guests, sorted, unknown ids included (they fail visibly in the task).
    let vmids: [Int]
    /// Guests on other nodes: `skip external VMs`.
    let skipped: [Int]
    let mode: String
    /// `zst`, `gz`, `lzo`, or `nil` for a plain `.tar`.
    let compressExtension: String?
    let notesTemplate: String?
    let protected: Bool
    let remove: Bool
    let pruneBackups: String?
    let stdexcludes: Bool
    let excludePaths: [String]
    let lockwaitMinutes: Int
    let ionice: Int
    let cmdline: String
    /// One-shot faults taken when the job started: they belong to this task.
    let exitFault: String?
    let jobError: String?

    static let schema: [String: ParameterSchema.Kind] = [
        "node": .string, "vmid": .string, "all": .boolean, "exclude": .string, "pool": .string, "stop": .boolean,
        "mode": .enumeration(["snapshot", "suspend", "stop"]), "storage": .string,
        "compress": .enumeration(["0", "1", "gzip", "lzo", "zstd"]), "notes-template": .string, "protected": .boolean,
        "remove": .boolean, "prune-backups": .string, "stopwait": .integer(minimum: 0), "lockwait": .integer(minimum: 0),
        "bwlimit": .integer(minimum: 0), "ionice": .integer(minimum: 0), "exclude-path": .string, "stdexcludes": .boolean,
        "zstd": .integer(minimum: 0), "pigz": .integer(minimum: 0), "quiet": .boolean, "tmpdir": .string,
        "dumpdir": .string, "script": .string, "job-id": .string, "mailto": .string, "stdout": .boolean,
        "mailnotification": .enumeration(["always", "failure"]), "notification-mode": .string,
        "performance": .string, "fleecing": .string, "pbs-change-detection-mode": .string,
    ]

    /// The synchronous part of the API call: parameter checks, then a task or `{"data":"OK"}`.
    static func start(_ fake: ProxmoxFake, _ request: APIRequest, path: [String: String]) throws(ProxmoxError) -> Reply {
        let params = try ParameterSchema(properties: schema).validate(request.params.merging(path) { $1 })
        var missing: [(String, String)] = []
        for dependent in ["notes-template", "protected"] where params[dependent] != nil && params["storage"] == nil {
            missing.append(("storage", "missing property required by '\(dependent)'"))
        }
        if !missing.isEmpty { throw .parameters(missing) }
        for key in ["tmpdir", "dumpdir", "script", "job-id"] where params[key] != nil && request.user != "root@pam" {
            throw .parameter(key, "Only root may set this option.")
        }
        if params.bool("all") == true, params["vmid"] != nil { throw .parameter("all", "option conflicts with option 'vmid'") }
        if params["notes-template"]?.contains("\n") == true { throw .parameter("notes-template", "contains a line feed") }
        let listed = (params["vmid"] ?? "").split(whereSeparator: { ",; \0".contains($0) }).map(String.init)
        if listed.isEmpty && params.bool("all") != true && params["pool"] == nil && params.bool("stop") != true {
            throw .parameter("vmid", "property is missing")
        }
        var ids: [Int] = []
        for text in listed {
            guard text.range(of: #"^[1-9][0-9]{2,8}$"#, options: .regularExpression) != nil, let id = Int(text) else {
                throw .parameter("vmid", "invalid format - value does not look like a valid VM ID")
            }
            ids.append(id)
        }
        // Unsure: whether an unknown storage fails before the fork; `PVE::VZDump->new` reads it, so the fake says 500 now.
        if let storage = params["storage"], storage != fake.storage { throw .server("storage '\(storage)' does not exist") }
        let (remote, known) = fake.state.withLock { state in
            (Set(state.faults.compactMap { if case .vzdumpOnOtherNode(let id) = $0 { id } else { nil } }), Set(state.guests.keys))
        }
        if params.bool("all") == true { ids = known.sorted() }
        let local = Array(Set(ids.filter { !remote.contains($0) })).sorted()
        // The guests live elsewhere: PVE answers OK without forking anything.
        guard !local.isEmpty else { return Reply(.string("OK")) }
        let (exitFault, jobError) = fake.state.withLock { state in
            (state.takeFault { if case .vzdumpExit(let exit) = $0 { exit } else { nil } },
             state.takeFault { if case .vzdumpJobError(let reason) = $0 { reason } else { nil } })
        }
        let job = VzdumpJob(
            fake: fake, vmids: local, skipped: ids.filter { remote.contains($0) }.sorted(),
            mode: params["mode"] ?? "snapshot",
            compressExtension: ["1": "lzo", "lzo": "lzo", "gzip": "gz", "zstd": "zst"][params["compress"] ?? "0"],
            notesTemplate: params["notes-template"].flatMap { $0.isEmpty ? nil : $0 },
            protected: params.bool("protected") == true, remove: params.bool("remove") ?? true,
            pruneBackups: params["prune-backups"], stdexcludes: params.bool("stdexcludes") ?? true,
            excludePaths: (params["exclude-path"] ?? "").split(whereSeparator: { "\0\n".contains($0) }).map(String.init),
            lockwaitMinutes: params.int("lockwait") ?? 180, ionice: params.int("ionice") ?? 7,
            cmdline: commandLine(params, vmids: ids, node: fake.node), exitFault: exitFault, jobError: jobError)
        let id = local.count == 1 ? String(local[0]) : ""
        let upid = fake.startTask(type: "vzdump", id: id, vmids: local, user: request.user) { context in
            try await job.run(context)
        }
        return Reply(.string(upid))
    }

    /// `PVE::VZDump::Common::command_line`. Unsure: PVE emits options in Perl hash order; the fake uses a fixed one.
    private static func commandLine(_ params: Parameters, vmids: [Int], node: String) -> String {
        var text = "vzdump" + vmids.map { " \($0)" }.joined()
        let first = ["mode", "storage", "compress", "notes-template", "remove"]
        let keys = first.filter { params[$0] != nil } + params.values.keys.filter { !first.contains($0) && $0 != "vmid" && $0 != "node" }.sorted()
        for key in keys {
            guard let value = params[key], !value.isEmpty else { continue }
            text += " --\(key) \(shellQuote(value))"
        }
        return text + " --node \(node)"
    }

    /// `PVE::Tools::shellquote`, after String::ShellQuote.
    static func shellQuote(_ value: String) -> String {
        if value.isEmpty { return "''" }
        guard value.range(of: #"[^\w!%+,\-./:=@^]"#, options: .regularExpression) != nil else { return value }
        return "'" + value.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// The worker: global lock, then each guest, then the job's verdict.
    func run(_ context: TaskContext) async throws {
        try await acquireGlobalLock(context)
        try context.log("INFO: starting new backup job: \(cmdline)")
        if !skipped.isEmpty { try context.log("INFO: skip external VMs: \(skipped.map(String.init).joined(separator: ", "))") }
        var errors = 0
        do {
            for vmid in vmids where try await !backup(vmid: vmid, context) {
                errors += 1
            }
        } catch TaskEnd.interrupted {
            try context.log("ERROR: Backup job failed - interrupted by signal")
            throw TaskEnd.interrupted
        }
        try context.log(errors > 0 ? "INFO: Backup job finished with errors" : "INFO: Backup job finished successfully")
        if let exit = exitFault, !["OK", "job errors", "interrupted by signal", "unexpected status"].contains(exit),
           !exit.hasPrefix("WARNINGS") {
            throw TaskEnd.failed(exit)
        }
        if errors > 0 { throw TaskEnd.failed("job errors") }
    }

    /// The flock on `/var/run/vzdump.lock`: one vzdump per node. Waiting is logged before the job's first line.
    private func acquireGlobalLock(_ context: TaskContext) async throws {
        let lockFile = "/var/run/vzdump.lock"
        if fake.state.withLock({ $0.tryVzdumpLock(context.upid, now: .now) }) { return }
        if lockwaitMinutes == 0 {
            try context.log("ERROR: can't acquire lock '\(lockFile)' (wait = 0)")
            throw TaskEnd.failed("can't acquire lock '\(lockFile)' (wait = 0)")
        }
        try context.log("INFO: trying to get global lock - waiting...")
        let deadline = ContinuousClock.now.advanced(by: .seconds(lockwaitMinutes * 60))
        while !fake.state.withLock({ $0.tryVzdumpLock(context.upid, now: .now) }) {
            if ContinuousClock.now >= deadline {
                // Unsure: the research says the worker then exit(-1)s without a TASK line ("unexpected status");
                // an older VZDump.pm read while building this dies with the message instead.
                try context.log("ERROR: can't acquire lock '\(lockFile)' - got timeout")
                fake.killTask(context.upid)
                throw TaskEnd.killed
            }
            try await context.pause(.milliseconds(20))
        }
        try context.log("INFO: got global lock")
    }
}
