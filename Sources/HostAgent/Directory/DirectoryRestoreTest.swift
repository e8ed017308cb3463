import AgentAPI
import Foundation
import Logging
import Subprocess

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// The directory backend's restore test: extract into scratch, verify the manifest, and start the
/// guest's probe service on the restored data under a scratch compose project.
struct DirectoryRestoreTest: Sendable {
    let layout: RepositoryLayout
    /// `state_dir/restore-tests`: one scratch directory per run.
    let scratchRoot: String
    /// Scratch compose projects carry this prefix, which names this agent's state dir,
    /// so the sweep finds its own leftovers and never another agent's running test.
    let projectPrefix: String
    let logger: Logger

    init(layout: RepositoryLayout, stateDirectory: String, logger: Logger) {
        self.layout = layout
        self.scratchRoot = stateDirectory + "/restore-tests"
        self.projectPrefix = "felhom-rt-" + String(GuestToken.digest(stateDirectory).prefix(8)) + "-"
        self.logger = logger
    }

    func run(guest: GuestRecord, backupID: String, opID: String) async -> [RestoreTestCheck] {
        let scratch = "\(scratchRoot)/\(opID)"
        let project = projectPrefix + opID.lowercased().replacingOccurrences(of: "_", with: "-")
        var checks: [RestoreTestCheck] = []
        do {
            try FileManager.default.createDirectory(atPath: scratchRoot, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            let manifest = try await ArchiveRestorer(layout: layout).restore(guest: guest.name, backupID: backupID, to: scratch)
            checks.append(RestoreTestCheck(name: "manifest", ok: true, detail: "\(manifest.totalFiles) files, \(manifest.totalBytes) bytes verified"))
        } catch {
            checks.append(RestoreTestCheck(name: "manifest", ok: false, detail: "\(error)"))
        }
        if let probe = guest.probe, checks.allSatisfy(\.ok) {
            checks += await runProbe(probe, scratch: scratch, project: project)
        }
        await removeScratch(project: project, directory: scratch)
        return checks
    }

    /// Starts the probe's service under a scratch project and reads its log until the pattern or the timeout.
    func runProbe(_ probe: RestoreProbe, scratch: String, project: String) async -> [RestoreTestCheck] {
        let directory = "\(scratch)/\(probe.directory)"
        let expectName = "probe expects: \(probe.expect)"
        let names = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]
        guard let composeFile = names.map({ "\(directory)/\($0)" }).first(where: FileManager.default.fileExists(atPath:)) else {
            return [RestoreTestCheck(name: expectName, ok: false, detail: "no compose file in \(probe.directory) of the restored backup")]
        }
        let up = await docker(["compose", "--project-name", project, "--project-directory", directory, "--file", composeFile, "up", "--detach", "--no-deps", probe.service])
        guard up.ok else {
            return [RestoreTestCheck(name: expectName, ok: false, detail: "the probe service did not start: \(up.output)")]
        }
        let started = ContinuousClock.now
        let deadline = started.advanced(by: .seconds(probe.timeoutSeconds))
        var log = ""
        var seen = false
        while ContinuousClock.now < deadline {
            log = await docker(["compose", "--project-name", project, "--project-directory", directory, "--file", composeFile, "logs", "--no-color", probe.service]).output
            if log.contains(probe.expect) { seen = true; break }
            try? await Task.sleep(for: .milliseconds(500))
        }
        let elapsed = started.duration(to: .now)
        var checks = [RestoreTestCheck(
            name: expectName, ok: seen,
            detail: seen ? "seen after \(elapsed.formatted(.units(allowed: [.seconds], fractionalPart: .show(length: 1))))" : "not seen within \(probe.timeoutSeconds) s; last log lines: \(log.split(separator: "\n").suffix(3).joined(separator: " | "))")]
        if let reject = probe.reject {
            let line = log.split(separator: "\n").first { $0.contains(reject) }
            checks.append(RestoreTestCheck(name: "probe rejects: \(reject)", ok: line == nil, detail: line.map { "seen: \($0)" } ?? "not seen"))
        }
        return checks
    }

    /// Tears down the scratch project and deletes the scratch directory.
    func removeScratch(project: String, directory: String) async {
        _ = await docker(["compose", "--project-name", project, "down", "--volumes", "--timeout", "0", "--remove-orphans"])
        do {
            if FileManager.default.fileExists(atPath: directory) { try FileManager.default.removeItem(atPath: directory) }
        } catch {
            logger.error("removing a restore test's scratch dir failed", metadata: ["path": "\(directory)", "error": "\(error)"])
        }
    }

    /// Removes every scratch dir and scratch compose project a killed run left behind.
    func sweep() async -> [String] {
        var removed: [String] = []
        let projects = await docker(["ps", "--all", "--format", "{{.Label \"com.docker.compose.project\"}}"]).output
        for project in Set(projects.split(separator: "\n").map(String.init)) where project.hasPrefix(projectPrefix) {
            await removeScratch(project: project, directory: "/nonexistent")
            removed.append(project)
        }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: scratchRoot)) ?? [] {
            let path = "\(scratchRoot)/\(name)"
            OrphanedProcesses.kill(argumentsContaining: path)
            try? FileManager.default.removeItem(atPath: path)
            removed.append(path)
        }
        return removed
    }

    private func docker(_ arguments: [String]) async -> (ok: Bool, output: String) {
        do {
            let result = try await Subprocess.run(
                .name("docker"), arguments: Arguments(arguments), output: .string(limit: 4 << 20), error: .string(limit: 1 << 20))
            let output = result.standardOutput + result.standardError
            if case .exited(0) = result.terminationStatus { return (true, output) }
            return (false, output)
        } catch {
            return (false, "\(error)")
        }
    }
}
