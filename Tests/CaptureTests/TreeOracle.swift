import Capture
import Foundation
import Stacks
import TestSupport

/// `scripts/tree-hash.py`: the tree's hash, by a tool outside the code under test.
enum TreeOracle {
    static let script = FixtureStacks.fixturesDirectory.replacingOccurrences(of: "/compose-fixtures", with: "/scripts/tree-hash.py")

    /// - Parameter holes: whether the data segments count; a tar round trip does not keep them.
    static func lines(_ directory: String, holes: Bool = true) async throws -> [String] {
        let output = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "python3", arguments: [script, "--lines"] + (holes ? [] : ["--no-holes"]) + [directory], timeout: .seconds(600)))
        guard output.succeeded else { throw HarnessError("tree-hash.py \(directory): \(output.standardError)") }
        return output.standardOutput.split(separator: "\n").map(String.init)
    }

    /// The lines of `a` and `b` that differ, at most `limit`, for a failure message.
    static func difference(_ a: [String], _ b: [String], limit: Int = 6) -> String {
        let left = Set(a.dropLast()), right = Set(b.dropLast())
        let onlyA = left.subtracting(right).sorted().prefix(limit), onlyB = right.subtracting(left).sorted().prefix(limit)
        return "live only: \(onlyA.joined(separator: " | "))\ncopy only: \(onlyB.joined(separator: " | "))"
    }
}

/// rsync's quick check: size and whole-second mtime. Here only to prove the oracle catches a bad delta pass.
struct QuickCheckRule: ChangeRule {
    func isUnchanged(_ recorded: FileState, copiedAtNs: Int64, current: FileState) -> Bool {
        recorded.kind == current.kind && recorded.size == current.size && recorded.modifiedNs / 1_000_000_000 == current.modifiedNs / 1_000_000_000
    }
}
