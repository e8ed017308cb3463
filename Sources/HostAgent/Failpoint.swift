import Foundation
import Logging

/// Named points where a crash test can freeze the agent and SIGKILL it.
///
/// `FELHOM_AGENT_FAILPOINT=rollback.between-renames` makes the agent log
/// "failpoint reached" and stop at that point until it is killed. Unset, as in
/// production, each point costs one dictionary lookup. The moments these name
/// last microseconds, so a test cannot hit them by timing a kill.
enum Failpoint {
    static let active = ProcessInfo.processInfo.environment["FELHOM_AGENT_FAILPOINT"]

    static func reach(_ name: String, logger: Logger) async {
        guard active == name else { return }
        logger.notice("failpoint reached", metadata: ["failpoint": "\(name)"])
        while true {
            // Not cancellable on purpose: the test's SIGKILL is the only way out.
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
