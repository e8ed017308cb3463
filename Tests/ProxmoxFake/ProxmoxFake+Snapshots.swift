import Foundation

/// LXC snapshots: the `…/snapshot` endpoints and the create/delete steps vzdump's snapshot mode reuses.
///
/// A snapshot is a full copy of the root directory (`cp -a`). Real directory storage cannot snapshot at all;
/// the fake behaves like a ZFS or LVM-thin storage here unless `FakeFault.noSnapshotSupport` is injected.
extension ProxmoxFake {
    func snapshotRoutes(_ request: APIRequest) throws(ProxmoxError) -> Reply? {
        if let path = request.match("nodes/{node}/lxc/{vmid}/snapshot") {
            switch request.method {
            case "GET":
                let params = try ParameterSchema(properties: ["node": .string, "vmid": .integer(minimum: 100)])
                    .validate(request.params.merging(path) { $1 })
                return Reply(snapshotList(try existingGuest(params.int("vmid") ?? 0)))
            case "POST":
                let params = try ParameterSchema(
                    properties: ["node": .string, "vmid": .integer(minimum: 100), "snapname": .string, "description": .string],
                    required: ["snapname"]).validate(request.params.merging(path) { $1 })
                return Reply(.string(try startSnapshot(params, user: request.user)))
            default:
                return nil
            }
        }
        if request.method == "DELETE", let path = request.match("nodes/{node}/lxc/{vmid}/snapshot/{snapname}") {
            let params = try ParameterSchema(properties: [
                "node": .string, "vmid": .integer(minimum: 100), "snapname": .string, "force": .boolean,
            ]).validate(request.params.merging(path) { $1 })
            let vmid = params.int("vmid") ?? 0
            let name = params["snapname"] ?? ""
            _ = try existingGuest(vmid)
            let force = params.bool("force") == true
            let upid = startTask(type: "vzdelsnapshot", id: String(vmid), user: request.user) { context in
                try await context.pause(.milliseconds(100))
                try context.mutate { state throws(TaskEnd) in
                    guard let guest = state.guests[vmid] else { throw .failed("Configuration file 'nodes/\(self.node)/lxc/\(vmid).conf' does not exist") }
                    if !force, let lock = guest.lock { throw .failed("CT is locked (\(lock))") }
                    guard guest.snapshots.contains(where: { $0.name == name }) else { throw .failed("snapshot '\(name)' does not exist") }
                }
                try context.mutate { state throws(TaskEnd) in self.forgetSnapshot(&state, vmid: vmid, name: name) }
            }
            return Reply(.string(upid))
        }
        return nil
    }

    /// The unsorted list PVE returns: every snapshot, then `current` ("You are here!").
    private func snapshotList(_ guest: FakeState.Guest) -> JSONValue {
        var items: [JSONValue] = guest.snapshots.map { snapshot in
            var members: [(String, JSONValue)] = [
                ("name", .string(snapshot.name)), ("snaptime", .int(snapshot.snaptime)),
                ("description", .string(snapshot.description)),
            ]
            if let parent = snapshot.parent { members.append(("parent", .string(parent))) }
            return .object(members)
        }
        var current: [(String, JSONValue)] = [
            ("name", .string("current")), ("running", .int(guest.running ? 1 : 0)),
            ("digest", .string(LXCConfig.digest(guest.config))), ("description", .string("You are here!")),
        ]
        if let parent = guest.config["parent"] { current.append(("parent", .string(parent))) }
        items.append(.object(current))
        return .array(items)
    }

    private func startSnapshot(_ params: Parameters, user: String) throws(ProxmoxError) -> String {
        let vmid = params.int("vmid") ?? 0
        let name = params["snapname"] ?? ""
        guard name.count <= 40, name.range(of: #"^[a-zA-Z][a-zA-Z0-9_\-]+$"#, options: .regularExpression) != nil else {
            throw .parameter("snapname", "invalid format - invalid configuration ID '\(name)'")
        }
        if name == "current" || name == "vzdump" { throw .server("unable to use snapshot name '\(name)' (reserved name)") }
        _ = try existingGuest(vmid)
        let description = params["description"] ?? ""
        return startTask(type: "vzsnapshot", id: String(vmid), user: user) { context in
            let rootfs = try context.mutate { state throws(TaskEnd) -> String in
                guard var guest = state.guests[vmid] else { throw .failed("Configuration file 'nodes/\(self.node)/lxc/\(vmid).conf' does not exist") }
                if let lock = guest.lock { throw .failed("CT is locked (\(lock))") }
                if guest.snapshots.contains(where: { $0.name == name }) { throw .failed("snapshot name '\(name)' already used") }
                guest.config["lock"] = "snapshot"
                state.guests[vmid] = guest
                return guest.rootfs
            }
            try await self.takeSnapshot(context, vmid: vmid, rootfs: rootfs, name: name, description: description)
            try context.mutate { state throws(TaskEnd) in
                if state.guests[vmid]?.lock == "snapshot" { state.guests[vmid]?.config["lock"] = nil }
            }
        }
    }

    /// Copies the root directory and records the snapshot; from then on it is listed and is the config's parent.
    func takeSnapshot(_ context: TaskContext, vmid: Int, rootfs: String, name: String, description: String) async throws {
        let path = snapshotPath(vmid: vmid, name: name)
        do {
            try await HostCommands.copyTree(from: rootfs, to: path)
        } catch {
            throw TaskEnd.failed("\(error)")
        }
        try context.mutate { state throws(TaskEnd) in
            guard var guest = state.guests[vmid] else { throw .failed("Configuration file 'nodes/\(self.node)/lxc/\(vmid).conf' does not exist") }
            guest.snapshots.append(FakeState.Snapshot(
                name: name, snaptime: Int(Date().timeIntervalSince1970), description: description,
                parent: guest.config["parent"], path: path))
            guest.config["parent"] = name
            state.guests[vmid] = guest
        }
    }

    /// Drops a snapshot and its copy; its children and the config take over its parent.
    func forgetSnapshot(_ state: inout FakeState, vmid: Int, name: String) {
        guard var guest = state.guests[vmid], let index = guest.snapshots.firstIndex(where: { $0.name == name }) else { return }
        let removed = guest.snapshots.remove(at: index)
        for child in guest.snapshots.indices where guest.snapshots[child].parent == name {
            guest.snapshots[child].parent = removed.parent
        }
        if guest.config["parent"] == name { guest.config["parent"] = removed.parent }
        state.guests[vmid] = guest
        HostCommands.removeTree(removed.path)
    }
}
