import Foundation
import Stacks
import Synchronization

/// `exec_backup_task` for one container: lock, consistent copy, archive, notes, cleanup.
extension VzdumpJob {
    /// What has to be undone whatever happens, as vzdump's `$cleanup` hash tracks it.
    private struct Cleanup {
        var unlock = false
        var removeSnapshot = false
        var restart = false
        var stoppedAt: Date?
        var dat: String?
        var tmpdir: String?
    }

    /// Backs up one guest and logs its verdict. Returns whether it succeeded; rethrows a kill, and an interrupt
    /// after cleaning up, because vzdump re-raises "interrupted by signal" to end the whole job.
    func backup(vmid: Int, _ context: TaskContext) async throws -> Bool {
        let started = Date()
        var cleanup = Cleanup()
        var failure: String?
        do {
            try await archive(vmid: vmid, started: started, context, &cleanup)
        } catch TaskEnd.killed {
            throw TaskEnd.killed
        } catch TaskEnd.interrupted {
            failure = "interrupted by signal"
        } catch TaskEnd.failed(let message) {
            failure = message
        } catch {
            failure = "\(error)"
        }
        if cleanup.unlock {
            try context.mutate { state throws(TaskEnd) in
                if state.guests[vmid]?.lock == "backup" { state.guests[vmid]?.config["lock"] = nil }
            }
        }
        if cleanup.removeSnapshot {
            try context.log("INFO: cleanup temporary 'vzdump' snapshot")
            try context.mutate { state throws(TaskEnd) in fake.forgetSnapshot(&state, vmid: vmid, name: "vzdump") }
        }
        if cleanup.restart, fake.state.withLock({ $0.guests[vmid]?.running }) == false {
            try context.log("INFO: restarting vm")
            try context.mutate { state throws(TaskEnd) in
                state.guests[vmid]?.running = true
                state.guests[vmid]?.startedAt = Date()
            }
            let delay = Int(Date().timeIntervalSince(cleanup.stoppedAt ?? started))
            try context.log("INFO: guest is online again after \(delay < 1 ? "<1" : String(delay)) seconds")
        }
        if let dat = cleanup.dat { HostCommands.removeTree(dat) }
        if let tmpdir = cleanup.tmpdir { HostCommands.removeTree(tmpdir) }
        if let failure {
            try context.log("ERROR: Backup of VM \(vmid) failed - \(failure)")
            try context.log("INFO: Failed at \(Self.stamp(Date()))")
            if failure == "interrupted by signal" { throw TaskEnd.interrupted }
            return false
        }
        let seconds = Int(Date().timeIntervalSince(started))
        try context.log("INFO: Finished Backup of VM \(vmid) (\(String(format: "%02d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)))")
        try context.log("INFO: Backup finished at \(Self.stamp(Date()))")
        return true
    }

    /// `strftime("%F %H:%M:%S", localtime())`
    static func stamp(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = .current
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss"
        return formatter.string(from: date)
    }

    private func archive(vmid: Int, started: Date, _ context: TaskContext, _ cleanup: inout Cleanup) async throws {
        guard let guest = fake.state.withLock({ $0.guests[vmid] }) else { throw TaskEnd.failed("unable to find VM '\(vmid)'") }
        // `setTiming` counts from here to the consistent copy, and from that copy to the end.
        let guestStart = ContinuousClock.now
        let name = BackupStore.archiveName(vmid: vmid, date: started, compressExtension: compressExtension)
        let store = BackupStore(storage: fake.storage, dumpDirectory: fake.dumpDirectory)
        let target = store.path(name)
        // `$task->{tmptar} =~ s/\.[^\.]+$/\.dat/`
        let dat = (target as NSString).deletingPathExtension + ".dat"
        // A dump dir on a POSIX filesystem holds the temporary directory itself.
        let tmpdir = store.path(name.replacingOccurrences(of: #"\.tar(\.[a-z]+)?$"#, with: "", options: .regularExpression) + ".tmp")
        HostCommands.removeTree(dat)
        HostCommands.removeTree(tmpdir)
        cleanup.dat = dat
        cleanup.tmpdir = tmpdir
        try context.log("INFO: Starting Backup of VM \(vmid) (lxc)")
        try context.log("INFO: Backup started at \(Self.stamp(Date()))")
        let running = guest.running
        try context.log("INFO: status = \(running ? "running" : "stopped")")
        if let reason = jobError, reason.hasPrefix("CT is locked") { throw TaskEnd.failed(reason) }
        try context.mutate { state throws(TaskEnd) in
            guard var current = state.guests[vmid] else { throw .failed("unable to find VM '\(vmid)'") }
            if let lock = current.lock { throw .failed("CT is locked (\(lock))") }
            current.config["lock"] = "backup"
            state.guests[vmid] = current
        }
        cleanup.unlock = true

        var mode = running ? self.mode : "stop"
        let noSnapshots = fake.state.withLock { $0.hasFault { if case .noSnapshotSupport = $0 { true } else { false } } }
        if mode == "snapshot" {
            try prepareLines(guest, context)
            if noSnapshots {
                try context.log("INFO: mode failure - some volumes do not support snapshots")
                try context.log("INFO: trying 'suspend' mode instead")
                mode = "suspend"
            }
        }
        try context.log("INFO: backup mode: \(mode)")
        try context.log("INFO: ionice priority: \(ionice)")
        let snapshotAfter: @Sendable () -> Duration = { [fake] in fake.state.withLock { $0.snapshotAfter } }
        let archiveFor: @Sendable () -> Duration = { [fake] in fake.state.withLock { $0.archiveFor } }
        let source: String
        switch mode {
        case "stop":
            try prepareLines(guest, context)
            try await context.pause(since: guestStart, snapshotAfter)
            if running {
                try context.log("INFO: stopping virtual guest")
                cleanup.stoppedAt = Date()
                try context.mutate { state throws(TaskEnd) in
                    state.guests[vmid]?.running = false
                    state.guests[vmid]?.startedAt = nil
                }
                cleanup.restart = true
            }
            source = guest.rootfs
        case "suspend":
            try prepareLines(guest, context)
            let proc = "/proc/\(30000 + vmid)/root/"
            try context.log("INFO: starting first sync \(proc) to \(tmpdir)")
            try await HostCommands.copyTree(from: guest.rootfs, to: tmpdir)
            try context.log("INFO: first sync finished - transferred \(HostCommands.treeSize(tmpdir)) bytes in 1s")
            try await context.pause(since: guestStart, snapshotAfter)
            try context.log("INFO: suspending guest")
            try context.log("INFO: starting final sync \(proc) to \(tmpdir)")
            try await HostCommands.copyTree(from: guest.rootfs, to: tmpdir)
            try context.log("INFO: final sync finished - transferred \(HostCommands.treeSize(tmpdir)) bytes in 1s")
            try context.log("INFO: resuming guest")
            try context.log("INFO: guest is online again after 1 seconds")
            source = tmpdir
        default:
            try await context.pause(since: guestStart, snapshotAfter)
            if fake.state.withLock({ $0.guests[vmid]?.snapshots.contains { $0.name == "vzdump" } }) == true {
                try context.log("INFO: found old vzdump snapshot (force removal)")
                try context.mutate { state throws(TaskEnd) in fake.forgetSnapshot(&state, vmid: vmid, name: "vzdump") }
            }
            try context.log("INFO: create storage snapshot 'vzdump'")
            cleanup.removeSnapshot = true
            try await fake.takeSnapshot(context, vmid: vmid, rootfs: guest.rootfs, name: "vzdump", description: "vzdump backup snapshot")
            source = fake.snapshotPath(vmid: vmid, name: "vzdump")
        }

        let consistent = ContinuousClock.now

        // `assemble`: the config without lock, parent and snapshots, as ./etc/vzdump/pct.conf.
        let config = fake.state.withLock { $0.guests[vmid]?.config ?? guest.config }.filter { !["lock", "parent"].contains($0.key) }
        try FileManager.default.createDirectory(atPath: tmpdir + "/etc/vzdump", withIntermediateDirectories: true)
        try Data(LXCConfig.text(config).utf8).write(to: URL(fileURLWithPath: tmpdir + "/etc/vzdump/pct.conf"))
        try context.log("INFO: creating vzdump archive '\(target)'")
        if let reason = jobError { throw TaskEnd.failed(reason) }
        if exitFault == "job errors" { throw TaskEnd.failed("injected failure (FakeFault.vzdumpExit)") }
        let written = try await runTar(source: source, tmpdir: tmpdir, dat: dat, context)
        try await context.pause(since: consistent, archiveFor)
        if let written { try context.log("INFO: \(written)") }
        switch exitFault {
        case "interrupted by signal": throw TaskEnd.interrupted
        case "unexpected status":
            fake.killTask(context.upid)
            throw TaskEnd.killed
        default: break
        }
        try context.mutate { _ throws(TaskEnd) in
            do {
                if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
                try FileManager.default.moveItem(atPath: dat, toPath: target)
            } catch {
                throw .failed("unable to rename '\(dat)' to '\(target)'")
            }
        }
        cleanup.dat = nil
        let size = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
        try context.log("INFO: archive file size: \(BackupStore.formatSize(size))")
        try finish(target: target, vmid: vmid, guest: guest, store: store, context)
    }

    /// The LXC plugin's `prepare` lines.
    private func prepareLines(_ guest: FakeState.Guest, _ context: TaskContext) throws {
        try context.log("INFO: CT Name: \(guest.hostname)")
        try context.log("INFO: including mount point rootfs ('/') in backup")
    }

    /// tar writes the `.dat` file; returns tar's `Total bytes written` line.
    private func runTar(source: String, tmpdir: String, dat: String, _ context: TaskContext) async throws -> String? {
        var arguments = ["--create", "--file=\(dat)", "--totals", "--one-file-system", "-p", "--sparse", "--numeric-owner",
                         "--xattrs", "--warning=no-file-ignored"]
        arguments += HostCommands.compressionFlag(forArchive: (dat as NSString).deletingPathExtension + ".tar" + (compressExtension.map { ".\($0)" } ?? ""))
        arguments += ["--directory=\(tmpdir)", "./etc/vzdump/pct.conf", "--directory=\(source)", "--anchored"]
        if stdexcludes { arguments += ["--exclude=./tmp/?*", "--exclude=./var/tmp/?*", "--exclude=./var/run/?*.pid"] }
        for path in excludePaths {
            arguments += path.hasPrefix("/") ? ["--exclude=.\(path)"] : ["--no-anchored", "--exclude=\(path)", "--anchored"]
        }
        arguments.append("./")
        let output = try await HostCommands.run("tar", arguments)
        let lines = output.standardError.split(separator: "\n").map(String.init)
        guard output.succeeded else {
            for line in lines { try context.log("INFO: \(line)") }
            throw TaskEnd.failed(HostCommands.commandFailure("tar", arguments, output))
        }
        return lines.first { $0.hasPrefix("Total bytes written") }
    }

    /// Notes, the protected flag, pruning, and any injected warnings.
    private func finish(target: String, vmid: Int, guest: FakeState.Guest, store: BackupStore, _ context: TaskContext) throws {
        if let template = notesTemplate {
            try context.log("INFO: adding notes to backup")
            switch Self.expandNotes(template, hostname: guest.hostname, vmid: vmid, node: fake.node) {
            case .success(let notes): try Data(notes.utf8).write(to: URL(fileURLWithPath: target + ".notes"))
            case .failure(let error): try context.warn("unable to add notes - \(error.description)")
            }
        }
        if protected {
            try context.log("INFO: marking backup as protected")
            try Data().write(to: URL(fileURLWithPath: target + ".protected"))
        }
        if remove, let prune = pruneBackups {
            try self.prune(prune, vmid: vmid, store: store, context)
        }
        if let exit = exitFault, exit.hasPrefix("WARNINGS") {
            let count = Int(exit.split(separator: " ").last ?? "1") ?? 1
            for _ in 0..<max(count, 1) { try context.warn("injected warning (FakeFault.vzdumpExit)") }
        }
    }

    /// Only `keep-last=N` is modeled. Unsure: how other keep options and the storage's own settings combine;
    /// without `prune-backups` the fake treats the storage as keep-all and prunes nothing, silently.
    private func prune(_ options: String, vmid: Int, store: BackupStore, _ context: TaskContext) throws {
        try context.log("INFO: prune older backups with retention: \(options)")
        let keepLast = options.split(separator: ",").compactMap { part -> Int? in
            let pair = part.split(separator: "=")
            return pair.count == 2 && pair[0] == "keep-last" ? Int(pair[1]) : nil
        }.first
        var pruned = 0
        if let keepLast {
            let candidates = store.backups().filter { $0.vmid == vmid && !$0.protected }.sorted { $0.ctime > $1.ctime }
            for old in candidates.dropFirst(keepLast) {
                try context.log("INFO: removing backup '\(old.volid)'")
                for path in [old.path, old.path + ".notes"] { HostCommands.removeTree(path) }
                pruned += 1
            }
        }
        try context.log("INFO: pruned \(pruned) backup(s)\(pruned > 0 ? " not covered by keep-retention policy" : "")")
    }

    /// Expands `{{cluster}} {{guestname}} {{node}} {{vmid}}` after the `\\` and `\n` escapes, as `$generate_notes` does.
    static func expandNotes(_ template: String, hostname: String, vmid: Int, node: String) -> Result<String, HostCommands.Failure> {
        var unescaped = ""
        var iterator = template.makeIterator()
        while let character = iterator.next() {
            guard character == "\\" else {
                unescaped.append(character)
                continue
            }
            switch iterator.next() {
            case "\\": unescaped.append("\\")
            case "n": unescaped.append("\n")
            case let other: return .failure(HostCommands.Failure(description: "unexpected escape character '\(other.map(String.init) ?? "")'"))
            }
        }
        let values = ["cluster": "standalone node", "guestname": hostname, "node": node, "vmid": String(vmid)]
        for (key, value) in values {
            unescaped = unescaped.replacingOccurrences(of: "{{\(key)}}", with: value)
        }
        return .success(unescaped)
    }
}
