import Foundation
import Stacks
import Synchronization

/// `POST /nodes/{node}/lxc` with `restore=1` (pve-container `API2/LXC.pm` `create_vm`, `LXC/Create.pm`).
struct RestoreJob: Sendable {
    let fake: ProxmoxFake
    let vmid: Int
    let volid: String
    let archive: String
    /// Config options given with the call; they win over the backed-up ones, except `netN` with `unique`.
    let given: [String: String]
    let unique: Bool
    let start: Bool
    /// The CT being overwritten (`force`), whose volumes the task destroys.
    let replacing: FakeState.Guest?
    let failure: String?

    private static let createOnly: [String: ParameterSchema.Kind] = [
        "node": .string, "vmid": .integer(minimum: 100), "ostemplate": .string, "restore": .boolean, "force": .boolean,
        "storage": .string, "unique": .boolean, "start": .boolean, "pool": .string, "bwlimit": .integer(minimum: 0),
        "ignore-unpack-errors": .boolean, "password": .string, "ssh-public-keys": .string,
    ]

    /// The synchronous checks, in the order the research gives, then the `vzrestore` task.
    static func start(_ fake: ProxmoxFake, _ request: APIRequest, path: [String: String]) throws(ProxmoxError) -> Reply {
        var properties = LXCConfig.schema
        properties["lock"] = nil
        properties.merge(createOnly) { $1 }
        let params = try ParameterSchema(properties: properties, required: ["vmid", "ostemplate"])
            .validate(request.params.merging(path) { $1 })
        if params["unique"] != nil, params["restore"] == nil {
            throw .parameter("restore", "missing property required by 'unique'")
        }
        guard params.bool("restore") == true else {
            throw ProxmoxError(status: 501, message: "ProxmoxFake models only restores (restore=1), not creation from a template")
        }
        let vmid = params.int("vmid") ?? 0
        let volid = params["ostemplate"] ?? ""
        let force = params.bool("force") == true
        if let target = params["storage"], target != fake.storage { throw .server("storage '\(target)' does not exist") }
        let name = try fake.backupFile(volid)
        let given = params.values.filter { LXCConfig.isConfigKey($0.key) }
        let job = try fake.state.withLock { state throws(ProxmoxError) -> RestoreJob in
            let existing = state.guests[vmid]
            let remote = state.hasFault { if case .vzdumpOnOtherNode(let id) = $0 { id == vmid } else { false } }
            // The fake's "other node" has no name of its own; `pve2` stands in for it.
            if remote, existing == nil { throw .server("CT \(vmid) already exists on node 'pve2'") }
            if let existing {
                guard force else { throw .server("CT \(vmid) already exists on node '\(fake.node)'") }
                if existing.running { throw .server("can't overwrite running container") }
                if let lock = existing.lock { throw .server("unable to restore CT \(vmid) - CT is locked (\(lock))") }
            }
            if state.hasFault({ if case .noQuorum = $0 { true } else { false } }) { throw .server("cluster not ready - no quorum?") }
            // Unsure: when exactly the new config (locked `create`) appears; the fake reserves the vmid at once.
            if var guest = existing {
                guest.config["lock"] = "create"
                state.guests[vmid] = guest
            } else {
                state.guests[vmid] = FakeState.Guest(vmid: vmid, running: false, config: ["lock": "create"], rootfs: "")
            }
            return RestoreJob(
                fake: fake, vmid: vmid, volid: fake.backupStore.volid(name), archive: fake.backupStore.path(name),
                given: given, unique: params.bool("unique") == true, start: params.bool("start") == true,
                replacing: existing,
                failure: state.takeFault { if case .restoreFails(let message) = $0 { message } else { nil } })
        }
        let upid = fake.startTask(type: "vzrestore", id: String(vmid), user: request.user) { context in
            try await job.run(context)
        }
        return Reply(.string(upid))
    }

    func run(_ context: TaskContext) async throws {
        do {
            try await restore(context)
        } catch TaskEnd.killed {
            throw TaskEnd.killed
        } catch {
            // On failure the new volumes and the config are removed: the CT no longer exists.
            let removed = try context.mutate { state throws(TaskEnd) in state.guests.removeValue(forKey: vmid) }
            if let rootfs = removed?.rootfs, !rootfs.isEmpty { HostCommands.removeTree(rootfs) }
            let message = switch error {
            case TaskEnd.failed(let message): message
            case TaskEnd.interrupted: "interrupted by signal"
            default: "\(error)"
            }
            throw TaskEnd.failed("unable to restore CT \(vmid) - \(message)")
        }
    }

    private func restore(_ context: TaskContext) async throws {
        try context.log("recovering backed-up configuration from '\(volid)'")
        let backedUp: [String: String]
        do {
            backedUp = LXCConfig.parse(try await fake.extractConfig(volid))
        } catch {
            throw TaskEnd.failed(error.message)
        }
        if let old = replacing {
            // `destroy_lxc_container` on the old config's volumes, before anything is unpacked.
            HostCommands.removeTree(old.rootfs)
            try context.mutate { state throws(TaskEnd) in
                for snapshot in state.guests[vmid]?.snapshots ?? [] { HostCommands.removeTree(snapshot.path) }
                state.guests[vmid]?.snapshots = []
                state.guests[vmid]?.config = ["lock": "create"]
                state.guests[vmid]?.rootfs = ""
            }
        }
        try context.log("restoring '\(volid)' now..")
        let rootfs = fake.rootfsPath(vmid: vmid)
        HostCommands.removeTree(rootfs)
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        try context.mutate { state throws(TaskEnd) in state.guests[vmid]?.rootfs = rootfs }
        try context.log("extracting archive '\(archive)'")
        try await extract(into: rootfs, context)
        try await context.pause(.milliseconds(100))
        if let failure { throw TaskEnd.failed(failure) }
        // Confirmed in Create.pm `restore_configuration_from_etc_vzdump`: pct.conf is unlinked from the restored
        // rootfs after it is read; the emptied etc/vzdump directory stays.
        HostCommands.removeTree(rootfs + "/etc/vzdump/pct.conf")
        // Unsure: real restores also print "Detected container architecture: amd64" when the config has no arch.
        try context.log("merging backed-up and given configuration..")
        var config = given
        for (key, value) in backedUp {
            if ["digest", "rootfs", "snapshots", "parent", "template", "lock"].contains(key) { continue }
            if key.range(of: #"^(mp|unused)\d+$"#, options: .regularExpression) != nil { continue }
            // The gotcha in `sanitize_and_merge_config`: with unique, the backup's netN wins, with a new MAC.
            if unique, key.range(of: #"^net\d+$"#, options: .regularExpression) != nil {
                config[key] = LXCConfig.withNewMAC(value)
                continue
            }
            if config[key] == nil { config[key] = value }
        }
        config["rootfs"] = fake.rootfsVolid(vmid: vmid)
        try context.mutate { state throws(TaskEnd) in
            state.guests[vmid]?.config = config
            // Unsure: with start=1 real PVE starts the CT through vm_start (its own vzstart task); the fake starts it here.
            if start {
                state.guests[vmid]?.running = true
                state.guests[vmid]?.startedAt = Date()
            }
        }
    }

    /// `restore_tar_archive`: tar's stderr goes to the task log, and a non-zero exit fails the restore.
    private func extract(into rootfs: String, _ context: TaskContext) async throws {
        let arguments = ["xpf", archive] + HostCommands.compressionFlag(forArchive: archive) + [
            "--totals", "--one-file-system", "-p", "--sparse", "--numeric-owner", "--xattrs", "--warning=no-file-ignored",
            "-C", rootfs, "--skip-old-files", "--anchored", "--exclude", "./dev/*",
        ]
        let output = try await HostCommands.run("tar", arguments)
        for line in output.standardError.split(separator: "\n") { try context.log(String(line)) }
        guard output.succeeded else { throw TaskEnd.failed(HostCommands.commandFailure("tar", arguments, output)) }
    }
}

extension Error {
    /// The message a `die` would carry: a ``ProxmoxError``'s text, else the description.
    var message: String {
        if let error = self as? ProxmoxError { return error.message }
        return "\(self)"
    }
}
