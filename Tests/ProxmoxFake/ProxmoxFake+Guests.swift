import Foundation
import Synchronization

/// Containers: what a test sets up and inspects, and the `/nodes/{node}/lxc/{vmid}` endpoints.
extension ProxmoxFake {
    /// Adds an LXC guest whose root filesystem is a real, empty directory; returns that directory.
    /// - Parameter config: options over the defaults (`hostname` comes from its own argument; `rootfs` is the fake's).
    public func addGuest(vmid: Int, hostname: String, running: Bool = true, config: [String: String] = [:]) throws -> String {
        let rootfs = rootfsPath(vmid: vmid)
        try FileManager.default.createDirectory(atPath: rootfs, withIntermediateDirectories: true)
        var full = [
            "arch": "amd64", "ostype": "debian", "memory": "512", "swap": "512", "cores": "1",
            "net0": "name=eth0,bridge=vmbr0,hwaddr=\(LXCConfig.randomMAC()),ip=dhcp,type=veth",
            "unprivileged": "1",
        ].merging(config) { $1 }
        full["hostname"] = hostname
        full["rootfs"] = rootfsVolid(vmid: vmid)
        let guest = FakeState.Guest(vmid: vmid, running: running, config: full, rootfs: rootfs, startedAt: running ? Date() : nil)
        try state.withLock { state in
            guard state.guests[vmid] == nil else { throw FakeSetupError("CT \(vmid) already exists") }
            state.guests[vmid] = guest
        }
        return rootfs
    }

    /// The guest as it stands, or `nil` when there is no such CT.
    public func guest(_ vmid: Int) -> FakeGuest? {
        state.withLock { state in
            state.guests[vmid].map { guest in
                FakeGuest(
                    vmid: vmid, hostname: guest.hostname, running: guest.running, lock: guest.lock, rootfs: guest.rootfs,
                    config: guest.config.filter { $0.key != "lock" }, snapshots: guest.snapshots.map(\.name))
            }
        }
    }

    /// Sets or clears the config's `lock`, as another process on the host would.
    public func setLock(_ vmid: Int, _ lock: String?) {
        state.withLock { $0.guests[vmid]?.config["lock"] = lock }
    }

    /// Starts or stops the guest behind the API's back.
    public func setRunning(_ vmid: Int, _ running: Bool) {
        state.withLock { state in
            state.guests[vmid]?.running = running
            state.guests[vmid]?.startedAt = running ? Date() : nil
        }
    }

    /// A directory storage's subvolume path: `images/101/subvol-101-disk-0.subvol`.
    func rootfsPath(vmid: Int) -> String { "\(directory)/images/\(vmid)/subvol-\(vmid)-disk-0.subvol" }
    func rootfsVolid(vmid: Int) -> String { "\(storage):\(vmid)/subvol-\(vmid)-disk-0.subvol,size=8G" }
    func snapshotPath(vmid: Int, name: String) -> String { "\(directory)/snapshots/\(vmid)/\(name)" }

    /// `load_config`'s failure for a CT that does not exist.
    func missingConfig(_ vmid: Int) -> ProxmoxError {
        .server("Configuration file 'nodes/\(node)/lxc/\(vmid).conf' does not exist")
    }

    func existingGuest(_ vmid: Int) throws(ProxmoxError) -> FakeState.Guest {
        guard let guest = state.withLock({ $0.guests[vmid] }) else { throw missingConfig(vmid) }
        return guest
    }

    /// `vmstatus`: the fields of the list and of `status/current`; `lock` only when set.
    func vmstatus(_ guest: FakeState.Guest, current: Bool) -> JSONValue {
        let uptime = guest.running ? Int(Date().timeIntervalSince(guest.startedAt ?? Date())) : 0
        let memory = (Int(guest.config["memory"] ?? "512") ?? 512) * 1024 * 1024
        var members: [(String, JSONValue)] = [
            ("vmid", .int(guest.vmid)), ("status", .string(guest.running ? "running" : "stopped")),
            ("name", .string(guest.hostname)), ("type", .string("lxc")), ("uptime", .int(uptime)),
            ("cpus", .int(Int(guest.config["cores"] ?? "1") ?? 1)), ("cpu", .int(0)),
            ("mem", .int(guest.running ? memory / 10 : 0)), ("maxmem", .int(memory)), ("disk", .int(0)),
            ("maxdisk", .int(8 << 30)), ("swap", .int(0)), ("maxswap", .int((Int(guest.config["swap"] ?? "512") ?? 512) << 20)),
            ("netin", .int(0)), ("netout", .int(0)), ("diskread", .int(0)), ("diskwrite", .int(0)),
        ]
        if current {
            if guest.running { members.append(("pid", .int(30000 + guest.vmid))) }
            members.append(("ha", .object([("managed", .int(0))])))
        }
        if let lock = guest.lock { members.append(("lock", .string(lock))) }
        if guest.config["template"] == "1" { members.append(("template", .int(1))) }
        return .object(members)
    }

    func guestRoutes(_ request: APIRequest) throws(ProxmoxError) -> Reply? {
        if request.method == "GET", let path = request.match("nodes/{node}/lxc") {
            _ = try ParameterSchema(properties: ["node": .string]).validate(request.params.merging(path) { $1 })
            let guests = state.withLock { $0.guests.values.sorted { $0.vmid < $1.vmid } }
            return Reply(.array(guests.map { vmstatus($0, current: false) }))
        }
        if let path = request.match("nodes/{node}/lxc/{vmid}/status/{action}") {
            return try statusRoute(request, path)
        }
        if let path = request.match("nodes/{node}/lxc/{vmid}/config") {
            return try configRoute(request, path)
        }
        if request.method == "DELETE", let path = request.match("nodes/{node}/lxc/{vmid}") {
            return try destroy(request, path)
        }
        return nil
    }

    private func statusRoute(_ request: APIRequest, _ path: [String: String]) throws(ProxmoxError) -> Reply? {
        var properties: [String: ParameterSchema.Kind] = ["node": .string, "vmid": .integer(minimum: 100), "action": .string]
        switch (request.method, path["action"]) {
        case ("GET", "current"): break
        case ("POST", "start"): properties.merge(["skiplock": .boolean, "debug": .boolean]) { $1 }
        case ("POST", "stop"): properties.merge(["skiplock": .boolean, "overrule-shutdown": .boolean]) { $1 }
        case ("POST", "shutdown"): properties.merge(["timeout": .integer(minimum: 0), "forceStop": .boolean]) { $1 }
        default: return nil
        }
        let params = try ParameterSchema(properties: properties).validate(request.params.merging(path) { $1 })
        let vmid = params.int("vmid") ?? 0
        if params["skiplock"] != nil, request.user != "root@pam" {
            throw .parameter("skiplock", "Only root may use this option.")
        }
        let guest = try existingGuest(vmid)
        let action = path["action"] ?? ""
        if action == "current" { return Reply(vmstatus(guest, current: true)) }
        if action == "start", guest.running { throw .server("CT \(vmid) already running") }
        if action != "start", !guest.running { throw .server("CT \(vmid) not running") }
        let type = ["start": "vzstart", "stop": "vzstop", "shutdown": "vzshutdown"][action] ?? action
        let upid = startTask(type: type, id: String(vmid), user: request.user) { context in
            try await context.pause(.milliseconds(150))
            try context.mutate { state throws(TaskEnd) in
                guard var guest = state.guests[vmid] else { throw .failed("Configuration file 'nodes/\(self.node)/lxc/\(vmid).conf' does not exist") }
                if let lock = guest.lock { throw .failed("CT is locked (\(lock))") }
                guest.running = action == "start"
                guest.startedAt = guest.running ? Date() : nil
                state.guests[vmid] = guest
            }
        }
        return Reply(.string(upid))
    }

    private func configRoute(_ request: APIRequest, _ path: [String: String]) throws(ProxmoxError) -> Reply? {
        switch request.method {
        case "GET":
            let params = try ParameterSchema(properties: [
                "node": .string, "vmid": .integer(minimum: 100), "current": .boolean, "snapshot": .string,
            ]).validate(request.params.merging(path) { $1 })
            return Reply(LXCConfig.json(try existingGuest(params.int("vmid") ?? 0).config))
        case "PUT":
            var properties = LXCConfig.schema
            properties.merge(["node": .string, "vmid": .integer(minimum: 100), "delete": .string, "digest": .string, "revert": .string]) { $1 }
            properties["lock"] = nil
            let params = try ParameterSchema(properties: properties).validate(request.params.merging(path) { $1 })
            let vmid = params.int("vmid") ?? 0
            try state.withLock { state throws(ProxmoxError) in
                guard var guest = state.guests[vmid] else { throw missingConfig(vmid) }
                if let digest = params["digest"], digest != LXCConfig.digest(guest.config) {
                    throw .server("detected modified configuration - file changed by other user? Try again.")
                }
                // `check_lock` comes first: there is no REST way to change a locked CT's config.
                if let lock = guest.lock { throw .server("CT is locked (\(lock))") }
                let deletions = (params["delete"] ?? "").split(whereSeparator: { ",; \0".contains($0) }).map(String.init)
                for key in deletions { guest.config[key] = nil }
                for (key, value) in params.values where LXCConfig.isConfigKey(key) {
                    guest.config[key] = value
                }
                state.guests[vmid] = guest
            }
            return Reply(.null)
        default:
            return nil
        }
    }

    private func destroy(_ request: APIRequest, _ path: [String: String]) throws(ProxmoxError) -> Reply {
        let params = try ParameterSchema(properties: [
            "node": .string, "vmid": .integer(minimum: 100), "purge": .boolean, "force": .boolean,
            "destroy-unreferenced-disks": .boolean,
        ]).validate(request.params.merging(path) { $1 })
        let vmid = params.int("vmid") ?? 0
        let guest = try existingGuest(vmid)
        if guest.config["protection"] == "1" { throw .server("can't remove CT \(vmid) - protection mode enabled") }
        if let lock = guest.lock { throw .server("CT is locked (\(lock))") }
        if guest.running, params.bool("force") != true {
            throw .server("unable to destroy CT \(vmid) - container is running")
        }
        let upid = startTask(type: "vzdestroy", id: String(vmid), user: request.user) { context in
            try await context.pause(.milliseconds(150))
            let removed = try context.mutate { state throws(TaskEnd) in
                guard let guest = state.guests[vmid] else { throw .failed("Configuration file 'nodes/\(self.node)/lxc/\(vmid).conf' does not exist") }
                if let lock = guest.lock { throw .failed("CT is locked (\(lock))") }
                state.guests[vmid] = nil
                return guest
            }
            HostCommands.removeTree(removed.rootfs)
            for snapshot in removed.snapshots { HostCommands.removeTree(snapshot.path) }
        }
        return Reply(.string(upid))
    }
}

/// A mistake in a test's setup of the fake, such as adding a CT twice.
public struct FakeSetupError: Error, Sendable, CustomStringConvertible {
    public var description: String

    init(_ description: String) {
        self.description = description
    }
}
