import DurableFiles
import Foundation
import Logging

/// The startup sweep for rollbacks: finish or undo an interrupted swap, drop staging leftovers.
///
/// Either the original tree or the restored one ends up at the data dir,
/// never a mix and never nothing.
struct RollbackRecovery: Sendable {
    let logger: Logger

    /// Resolves the journal of one data dir, if there is one. Returns what it did and for which op:
    /// `completed` when both renames had happened, `reverted` when the live tree had been moved
    /// aside but not replaced, `untouched` when no rename had happened.
    func sweep(dataDirectory: String) throws -> RecoveredRollback? {
        let manager = FileManager.default
        var result: RecoveredRollback?
        if let journal = try RollbackJournal.read(dataDirectory: dataDirectory) {
            let liveExists = manager.fileExists(atPath: dataDirectory)
            let oldExists = manager.fileExists(atPath: journal.old)
            let outcome: RecoveredRollback.Outcome
            switch (liveExists, oldExists) {
            case (true, true):
                outcome = .completed
                try manager.removeItem(atPath: journal.old)
            case (false, true):
                outcome = .reverted
                try DurableFile.rename(journal.old, to: dataDirectory)
            case (true, false):
                // The same trees after "no rename yet" and "swapped, old removed": only the journal's step tells them apart.
                outcome = journal.step == .swapped ? .completed : .untouched
            case (false, false):
                logger.error("an interrupted rollback left neither the data dir nor its original; nothing to restore from here", metadata: ["data_dir": "\(dataDirectory)"])
                outcome = .untouched
            }
            try journal.remove()
            result = RecoveredRollback(opID: journal.opID, outcome: outcome)
            logger.notice("interrupted rollback resolved", metadata: ["op_id": "\(journal.opID)", "outcome": "\(outcome.rawValue)", "data_dir": "\(dataDirectory)"])
        }
        try removeStagingLeftovers(dataDirectory: dataDirectory)
        return result
    }

    /// A killed extraction may still be writing (tar runs in a session of its own): stop it, then delete.
    private func removeStagingLeftovers(dataDirectory: String) throws {
        let parent = (dataDirectory as NSString).deletingLastPathComponent
        let base = (dataDirectory as NSString).lastPathComponent
        for name in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        where name.hasPrefix(base + ".felhom-staging-") || name.hasPrefix(base + ".felhom-old-") {
            let path = "\(parent)/\(name)"
            OrphanedProcesses.kill(argumentsContaining: path)
            try FileManager.default.removeItem(atPath: path)
            logger.info("rollback leftover removed", metadata: ["path": "\(path)"])
        }
    }
}

/// Processes a dead agent left running, found by an argument they were started with.
enum OrphanedProcesses {
    static func kill(argumentsContaining text: String) {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return }
        for entry in entries {
            guard let pid = Int32(entry), pid != getpid(),
                  let data = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { continue }
            let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if argv.contains(where: { $0.contains(text) }) {
                Glibc.kill(pid, SIGKILL)
            }
        }
    }
}
