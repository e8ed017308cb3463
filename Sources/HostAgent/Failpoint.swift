import Foundation
import Logging
import Synchronization

/// Named points where a crash test can freeze the agent and SIGKILL it.
///
/// `FELHOM_AGENT_FAILPOINT=rollback.between-renames` makes the agent log
/// "failpoint reached" and stop at that point until it is killed. Unset, as in
/// production, each point costs one dictionary lookup. The moments these name
/// last microseconds, so a test cannot hit them by timing a kill.
///
/// `NAME=SECONDS` holds at the point for that long and then goes on, so a test
/// can have a backup outlast a bound without making it bigger, which on a
/// loaded machine races the stops before it.
enum Failpoint {
    static let active = ProcessInfo.processInfo.environment["FELHOM_AGENT_FAILPOINT"]

    static func reach(_ name: String, logger: Logger) async {
        guard let active, active == name || active.hasPrefix(name + "=") else { return }
        logger.notice("failpoint reached", metadata: ["failpoint": "\(active)"])
        if active != name {
            guard let seconds = Double(active.dropFirst(name.count + 1)), seconds.isFinite, seconds >= 0 else {
                logger.error("failpoint hold is not a number of seconds; going on", metadata: ["failpoint": "\(active)"])
                return
            }
            try? await Task.sleep(for: .seconds(seconds))
            return
        }
        while true {
            // Not cancellable on purpose: the test's SIGKILL is the only way out.
            try? await Task.sleep(for: .seconds(3600))
        }
    }

    /// For a point inside synchronous code (the archive's progress callback): blocks the thread
    /// until the test's SIGKILL. Only the stop form, once per process.
    static func reachBlocking(_ name: String) {
        guard let active, active == name else { return }
        guard reachedBlocking.withLock({ $0.insert(name).inserted }) else { return }
        Logger.agentDefault.notice("failpoint reached", metadata: ["failpoint": "\(active)"])
        while true { sleep(3600) }
    }

    private static let reachedBlocking = Mutex<Set<String>>([])
}

extension Logger {
    /// For code without a logger of its own to hand: a failpoint inside a backend.
    static let agentDefault = Logger(label: "felhom-agent")
}
