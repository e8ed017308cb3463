import Foundation
import Logging

/// Resolves every op a crash left in flight, before the agent serves a request.
public struct StartupRecovery: Sendable {
    let store: AgentStore
    let backend: any BackupBackend
    let logger: Logger
    let now: @Sendable () -> Date

    public init(store: AgentStore, backend: any BackupBackend, logger: Logger, now: @escaping @Sendable () -> Date = Date.init) {
        self.store = store
        self.backend = backend
        self.logger = logger
        self.now = now
    }

    /// What the sweep did.
    public struct Report: Sendable, Equatable {
        public var resolvedOps: [String] = []
        public var removedFiles: [String] = []
        public var rollbacks: [String: String] = [:]
    }

    /// An interrupted directory backup cannot be resumed: its archive is partial.
    /// It becomes `failed`, and all of its files go.
    public func run() throws -> Report {
        var report = Report()
        // Rollback journals first: they decide which tree each data dir keeps.
        var swept: [String: RollbackRecovery.Outcome] = [:]
        for guest in try store.guests() {
            if let (opID, outcome) = try RollbackRecovery(logger: logger).sweep(dataDirectory: guest.dataDirectory) {
                swept[opID] = outcome
                report.rollbacks[opID] = outcome.rawValue
            }
        }
        for op in try store.inFlightOps() {
            switch op.kind {
            case .backup:
                try backend.discardBackup(guest: op.guest, backupID: op.id)
                try store.failOp(op.id, reason: "agent restarted during backup", now: now())
            case .restoreTest:
                try store.failOp(op.id, reason: "agent restarted during restore test", now: now())
            case .rollback:
                if swept[op.id] == .completed {
                    try store.succeedOp(op.id, now: now())
                } else {
                    try store.failOp(op.id, reason: "agent restarted during rollback; the data dir is unchanged", now: now())
                }
            }
            report.resolvedOps.append(op.id)
            let outcome = op.kind == .rollback && swept[op.id] == .completed ? "succeeded" : "failed"
            logger.info("interrupted op resolved at startup", metadata: [
                "op_id": "\(op.id)", "kind": "\(op.kind.rawValue)", "guest": "\(op.guest)", "state": "\(outcome)",
            ])
        }
        report.removedFiles = try backend.removeLeftovers()
        for path in report.removedFiles {
            logger.info("leftover partial file removed", metadata: ["path": "\(path)"])
        }
        return report
    }
}
