import AgentAPI
import Foundation
import Logging
import Stacks

/// Restore tests of a whole guest: the archive restored into a scratch container from
/// `proxmox.restore_test.vmids`, its network link down, started, probed with `pct exec`, and
/// destroyed with purge, whatever happened.
extension ProxmoxBackend {
    /// Scratch containers carry this hostname prefix, so the sweep never touches a real guest.
    static let scratchPrefix = "felhom-rt-"

    public func restoreTest(guest: GuestRecord, backupID: String, opID: String) async -> [RestoreTestCheck] {
        // One restore test at a time, from the scheduler or the CLI: `nextid` reserves nothing.
        var lock = ops.tryLock("restore-test")
        let deadline = ContinuousClock.now + .seconds(3600)
        while lock == nil, ContinuousClock.now < deadline, !Task.isCancelled {
            try? await Task.sleep(for: .seconds(1))
            lock = ops.tryLock("restore-test")
        }
        guard let lock else {
            return [RestoreTestCheck(name: "restore", ok: false, detail: "another restore test held the scratch range for an hour; try again later")]
        }
        defer { close(lock) }
        var checks: [RestoreTestCheck] = []
        let restored = await restoreIntoScratch(guest: guest, backupID: backupID, opID: opID)
        switch restored {
        case .failed(let check):
            checks.append(check)
        case .restored(let scratch):
            checks.append(RestoreTestCheck(name: "restore", ok: true, detail: "restored into scratch CT \(scratch), network link down"))
            await Failpoint.reach("proxmox.restore-test.restored", logger: logger)
            checks += await startAndProbe(scratch, probe: guest.probe)
            if let problem = await destroyScratch(scratch) {
                checks.append(RestoreTestCheck(name: "cleanup", ok: false, detail: problem))
            }
        }
        try? ops.remove(opID)
        return checks
    }

    private enum ScratchRestore {
        case restored(Int)
        case failed(RestoreTestCheck)
    }

    private func restoreIntoScratch(guest: GuestRecord, backupID: String, opID: String) async -> ScratchRestore {
        func failed(_ detail: String) -> ScratchRestore { .failed(RestoreTestCheck(name: "restore", ok: false, detail: detail)) }
        guard let vmid = guest.vmid else { return failed("guest \(guest.name) has no vmid") }
        let item: StorageItem
        do {
            guard let found = try await archive(of: backupID, vmid: vmid) else {
                return failed("storage \(configuration.storage) lists no archive of \(backupID)")
            }
            item = found
        } catch {
            return failed(error.message)
        }
        guard let scratch = await freeScratchVMID() else {
            return failed("no free scratch container id in \(configuration.restoreTestVMIDs.lowerBound)-\(configuration.restoreTestVMIDs.upperBound); the sweep removes leftovers at startup")
        }
        var record = ProxmoxOpRecord(id: opID, kind: .restoreTest, guest: guest.name, vmid: vmid, scratchVMID: scratch)
        do {
            try ops.save(record)
        } catch {
            return failed("recording the scratch container: \(error)")
        }
        // Not `unique=1`: it re-applies the backup's NICs over the one given here.
        var form = [
            ("vmid", "\(scratch)"), ("ostemplate", item.volid), ("restore", "1"), ("onboot", "0"),
            ("hostname", Self.scratchPrefix + guest.name),
            ("net0", "name=eth0,bridge=\(configuration.restoreTestBridge),link_down=1"),
        ]
        if let storage = (try? await rootfsStorage(of: vmid)) ?? nil { form.append(("storage", storage)) }
        do {
            record.postedAt = Date(timeIntervalSinceNow: -1)
            try ops.save(record)
            // A failed restore task removes what it created, and a refused one created nothing: no destroy
            // here, where the id might be another's. What an outage leaves, the startup sweep removes.
            if let failure = try await runTask(try await client.post("/nodes/\(node)/lxc", form: form, as: String.self)) {
                return failed("restoring \(item.volid) into scratch CT \(scratch) failed: \(failure)")
            }
        } catch {
            return failed("restoring \(item.volid) into scratch CT \(scratch): \(error)")
        }
        do {
            try await isolate(scratch)
        } catch {
            _ = await destroyScratch(scratch)
            return failed("removing the extra network interfaces of scratch CT \(scratch): \(error)")
        }
        return .restored(scratch)
    }

    /// The backup's other NICs would join real networks: they go before the container starts.
    private func isolate(_ scratch: Int) async throws(ProxmoxError) {
        let config = try await client.get("/nodes/\(node)/lxc/\(scratch)/config", as: [String: JSONScalar].self)
        let extra = config.keys.filter { $0.hasPrefix("net") && $0 != "net0" }.sorted()
        if !extra.isEmpty {
            try await client.put("/nodes/\(node)/lxc/\(scratch)/config", form: [("delete", extra.joined(separator: ","))])
        }
    }

    private func startAndProbe(_ scratch: Int, probe: RestoreProbe?) async -> [RestoreTestCheck] {
        do {
            if let failure = try await power(scratch, "start") {
                return [RestoreTestCheck(name: "start", ok: false, detail: "scratch CT \(scratch) did not start: \(failure)")]
            }
        } catch {
            return [RestoreTestCheck(name: "start", ok: false, detail: "starting scratch CT \(scratch): \(error.message)")]
        }
        var checks = [RestoreTestCheck(name: "start", ok: true, detail: "scratch CT \(scratch) runs")]
        guard let probe, let command = probe.command, !command.isEmpty else { return checks }
        let name = "probe: \(command.joined(separator: " "))"
        do {
            let output = try await pct.run(["exec", "\(scratch)", "--"] + command, timeout: .seconds(probe.timeoutSeconds))
            let text = output.standardOutput + output.standardError
            let seen = probe.expect.isEmpty || text.contains(probe.expect)
            checks.append(RestoreTestCheck(name: name, ok: seen, detail: seen ? "exit 0" : "exit 0, but \"\(probe.expect)\" is not in its output: \(text.suffix(300))"))
            if let reject = probe.reject {
                let line = text.split(separator: "\n").first { $0.contains(reject) }
                checks.append(RestoreTestCheck(name: "probe rejects: \(reject)", ok: line == nil, detail: line.map { "seen: \($0)" } ?? "not seen"))
            }
        } catch {
            checks.append(RestoreTestCheck(name: name, ok: false, detail: "\(error)"))
        }
        return checks
    }

    /// Stops and destroys a scratch container with purge; `nil` when it is gone, else why not.
    private func destroyScratch(_ scratch: Int) async -> String? {
        guard let status = try? await guestStatus(scratch) else { return nil }
        guard status.name?.hasPrefix(Self.scratchPrefix) ?? true else {
            return "CT \(scratch) is not a scratch container (its name is \(status.name ?? "?")); it was left alone"
        }
        if status.lock != nil { _ = try? await pct.run(["unlock", "\(scratch)"]) }
        if status.isRunning, let failure = try? await power(scratch, "stop") {
            return "stopping scratch CT \(scratch) failed: \(failure)"
        }
        let path = "/nodes/\(node)/lxc/\(scratch)"
        do {
            if let failure = try await runTask(try await client.delete(path, query: [("purge", "1"), ("destroy-unreferenced-disks", "1")], as: String.self)) {
                return "destroying scratch CT \(scratch) failed: \(failure); `pct destroy \(scratch) --purge` removes it"
            }
        } catch {
            return "destroying scratch CT \(scratch) failed: \(error.message); `pct destroy \(scratch) --purge` removes it"
        }
        return nil
    }

    /// The first id of the range that `GET /cluster/nextid?vmid=` says is free.
    private func freeScratchVMID() async -> Int? {
        for candidate in configuration.restoreTestVMIDs {
            if (try? await client.get("/cluster/nextid", query: [("vmid", "\(candidate)")], as: FlexibleInt.self)) != nil {
                return candidate
            }
        }
        return nil
    }

    public func sweepRestoreTests() async -> [String] {
        // A restore test the CLI runs now holds the lock: its scratch container is not a leftover.
        guard let lock = ops.tryLock("restore-test") else {
            logger.info("a restore test runs now; its scratch containers are left to it")
            return []
        }
        defer { close(lock) }
        var removed: [String] = []
        var candidates = Set(ops.all().filter { $0.kind == .restoreTest }.compactMap(\.scratchVMID))
        struct Listed: Decodable { var vmid: FlexibleInt; var name: String? }
        if let listed = try? await client.get("/nodes/\(node)/lxc", as: [Listed].self) {
            for guest in listed where configuration.restoreTestVMIDs.contains(guest.vmid.value) && (guest.name ?? "").hasPrefix(Self.scratchPrefix) {
                candidates.insert(guest.vmid.value)
            }
        }
        for scratch in candidates.sorted() {
            if (try? await guestStatus(scratch)) == nil { continue }
            if let problem = await destroyScratch(scratch) {
                logger.error("a scratch container a killed restore test left could not be removed", metadata: ["vmid": "\(scratch)", "error": "\(problem)"])
            } else {
                removed.append("CT \(scratch)")
            }
        }
        for record in ops.all() where record.kind == .restoreTest { try? ops.remove(record.id) }
        return removed
    }
}


