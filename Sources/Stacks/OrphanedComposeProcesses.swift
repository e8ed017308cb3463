import Foundation

/// Compose processes still working on a stack after the controller that started them died.
///
/// Docker commands run in sessions of their own, so a SIGKILLed controller
/// leaves them running: a `compose stop` can finish after the next controller
/// has started the stack again. Recovery waits for them first.
public enum OrphanedComposeProcesses {
    /// Process ids of `docker compose --project-name NAME …` (or the plugin) for any of `projects`.
    public static func find(projects: Set<String>, procRoot: String = "/proc") -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: procRoot) else { return [] }
        return entries.compactMap { entry in
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "\(procRoot)/\(entry)/cmdline") else { return nil }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard argv.contains("compose") || argv.first?.hasSuffix("docker-compose") == true,
                  let flag = argv.firstIndex(of: "--project-name"), flag + 1 < argv.count,
                  projects.contains(argv[flag + 1]) else { return nil }
            return pid
        }
    }

    /// Waits until none is left, or `timeout` passes. Returns whether none is left.
    public static func waitForExit(projects: Set<String>, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now.advanced(by: timeout)
        while !find(projects: projects).isEmpty {
            if ContinuousClock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return true
    }
}
