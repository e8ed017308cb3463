import Foundation
import Stacks
import Synchronization

/// The backup storage's endpoints, `POST vzdump` and `extractconfig`.
extension ProxmoxFake {
    /// Every archive in the dump directory, as the content list would show it (notes in full here).
    public var backups: [FakeBackup] { backupStore.backups() }

    var backupStore: BackupStore { BackupStore(storage: storage, dumpDirectory: dumpDirectory) }

    func storageRoutes(_ request: APIRequest) async throws(ProxmoxError) -> Reply? {
        if request.method == "POST", let path = request.match("nodes/{node}/vzdump") {
            return try VzdumpJob.start(self, request, path: path)
        }
        if request.method == "GET", let path = request.match("nodes/{node}/vzdump/extractconfig") {
            let params = try ParameterSchema(properties: ["node": .string, "volume": .string], required: ["volume"])
                .validate(request.params.merging(path) { $1 })
            return Reply(.string(try await extractConfig(params["volume"] ?? "")))
        }
        if request.method == "GET", let path = request.match("nodes/{node}/storage/{storage}/content") {
            let params = try ParameterSchema(properties: [
                "node": .string, "storage": .string, "content": .string, "vmid": .integer(minimum: 100),
            ]).validate(request.params.merging(path) { $1 })
            try requireStorage(params["storage"])
            // Unsure: other content types (rootdir, images, vztmpl, iso) are not modeled; they list nothing.
            guard params["content"] == nil || params["content"] == "backup" else { return Reply(.array([])) }
            let items = backupStore.backups().filter { params.int("vmid") == nil || $0.vmid == params.int("vmid") }
            return Reply(.array(items.map(backupStore.contentItem)))
        }
        if let path = request.match("nodes/{node}/storage/{storage}/content/{volume*}") {
            switch request.method {
            case "DELETE":
                let params = try ParameterSchema(properties: [
                    "node": .string, "storage": .string, "volume": .string, "delay": .integer(minimum: 1),
                ]).validate(request.params.merging(path) { $1 })
                return try await deleteBackup(params, user: request.user)
            case "PUT":
                let params = try ParameterSchema(properties: [
                    "node": .string, "storage": .string, "volume": .string, "notes": .string, "protected": .boolean,
                ]).validate(request.params.merging(path) { $1 })
                try requireStorage(params["storage"])
                let name = try backupFile(params["volume"] ?? "")
                let file = backupStore.path(name)
                guard FileManager.default.fileExists(atPath: file) else { throw .server("volume '\(backupStore.volid(name))' does not exist") }
                do {
                    if let notes = params["notes"] {
                        if notes.isEmpty { HostCommands.removeTree(file + ".notes") } else {
                            try Data(notes.utf8).write(to: URL(fileURLWithPath: file + ".notes"))
                        }
                    }
                    if let flag = params.bool("protected") {
                        if flag { try Data().write(to: URL(fileURLWithPath: file + ".protected")) } else { HostCommands.removeTree(file + ".protected") }
                    }
                } catch {
                    throw .server("update volume attribute failed: \(error)")
                }
                return Reply(.null)
            default:
                return nil
            }
        }
        return nil
    }

    private func requireStorage(_ name: String?) throws(ProxmoxError) {
        if let name, name != storage { throw .server("storage '\(name)' does not exist") }
    }

    /// The archive's file name; the volid may be raw or URL-encoded, with or without the storage prefix.
    func backupFile(_ volid: String) throws(ProxmoxError) -> String {
        guard let name = backupStore.fileName(ofVolid: volid) else { throw .server("unable to parse volume ID '\(volid)'") }
        return name
    }

    /// `imgdel`, whose task id is `<owner vmid>@<storage>`. With `delay`, PVE waits that long for the task and
    /// answers `null` (done), 500 with the task's error, or the UPID (still running).
    private func deleteBackup(_ params: Parameters, user: String) async throws(ProxmoxError) -> Reply {
        try requireStorage(params["storage"])
        let name = try backupFile(params["volume"] ?? "")
        let file = backupStore.path(name)
        let volname = "backup/\(name)"
        let owner = name.split(separator: "-").dropFirst(2).first.map(String.init)
        let upid = startTask(type: "imgdel", id: (owner.map { "\($0)@" } ?? "") + storage, user: user) { context in
            try await context.pause(.milliseconds(50))
            try context.mutate { _ throws(TaskEnd) in
                if FileManager.default.fileExists(atPath: file + ".protected") {
                    throw .failed("cannot remove protected volume '\(volname)' on '\(self.storage)'")
                }
                for path in [file, file + ".notes", file.replacingOccurrences(of: #"\.tar(\.[a-z]+)?$"#, with: ".log", options: .regularExpression)] {
                    HostCommands.removeTree(path)
                }
            }
        }
        guard let delay = params.int("delay") else { return Reply(.string(upid)) }
        let deadline = ContinuousClock.now.advanced(by: .seconds(min(delay, 30)))
        while ContinuousClock.now < deadline {
            if let task = state.withLock({ $0.task(upid) }), let exit = task.exitStatus {
                if exit == "OK" || exit.hasPrefix("WARNINGS") { return Reply(.null) }
                throw .server(exit)
            }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return Reply(.string(upid))
    }

    /// `extract_vzdump_config_tar`: the pct.conf text from the archive, read with `tar --occurrence`,
    /// which stops at the first match and so does not notice damage further on.
    func extractConfig(_ volid: String) async throws(ProxmoxError) -> String {
        let name = try backupFile(volid)
        let file = backupStore.path(name)
        guard FileManager.default.fileExists(atPath: file) else { throw .server("ERROR: file '\(file)' does not exist") }
        let arguments = ["-xpOf", file] + HostCommands.compressionFlag(forArchive: file) + ["./etc/vzdump/pct.conf", "--occurrence"]
        let output: String
        do {
            let result = try await HostCommands.run("tar", arguments, timeout: .seconds(120))
            guard result.succeeded else { throw HostCommands.Failure(description: HostCommands.commandFailure("tar", arguments, result)) }
            output = result.standardOutput
        } catch {
            throw .server("\(error)")
        }
        if output.isEmpty { throw .server("ERROR: archive contains no configuration file") }
        return output
    }
}
