import Foundation
import Logging

/// Named points in a cycle where a crash test freezes the controller and kills it.
///
/// `FELHOM_CONTROLLER_FAILPOINT=cycle.after-marker` makes the controller log
/// `failpoint reached failpoint=cycle.after-marker` there and wait until it is killed.
/// Tests stop on the name, never on log wording that may change. Unset, each point costs
/// one comparison.
public enum ControllerFailpoint {
    /// After the marker is on disk, before the first stop.
    public static let afterMarker = "cycle.after-marker"
    /// After the first stack has stopped, before the next.
    public static let afterFirstStop = "cycle.after-first-stop"
    /// After the agent accepted the backup or rollback and the marker names it.
    public static let afterStart = "cycle.after-start"
    /// After the first status poll that says to keep waiting.
    public static let polling = "cycle.polling"
    /// After the first stack is back up, before the rest.
    public static let restarting = "cycle.restarting"

    static let active = ProcessInfo.processInfo.environment["FELHOM_CONTROLLER_FAILPOINT"]

    static func reach(_ name: String, logger: Logger) async {
        guard active == name else { return }
        logger.notice("failpoint reached", metadata: ["failpoint": "\(name)"])
        while true {
            // Not cancellable on purpose: the test's SIGKILL is the only way out.
            try? await Task.sleep(for: .seconds(3600))
        }
    }
}
