import Foundation
import Stacks

/// A tree as text, read by find and sha256sum rather than by the code under test.
public enum TreeFingerprint {
    /// Paths, types, sizes, link targets and SHA-256 of a tree, read by find and sha256sum, not by the agent's code.
    public static func of(_ directory: String) async throws -> String {
        let listing = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "find", arguments: [directory, "-mindepth", "1", "-printf", "%y %P %s %l\\n"], timeout: .seconds(120)))
        let hashes = try await SubprocessCommandRunner().run(DockerCommand(
            executable: "find", arguments: [directory, "-type", "f", "-exec", "sha256sum", "{}", "+"], timeout: .seconds(120)))
        let relativeHashes = hashes.standardOutput.split(separator: "\n").map { $0.replacingOccurrences(of: directory + "/", with: "") }
        let directorySizes = listing.standardOutput.split(separator: "\n").map { line in
            // A directory's st_size depends on the file system, not on what it holds.
            line.hasPrefix("d ") ? String(line.split(separator: " ").prefix(2).joined(separator: " ")) : String(line)
        }
        return (directorySizes.sorted() + relativeHashes.sorted()).joined(separator: "\n")
    }
}
