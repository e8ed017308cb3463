import Foundation
import Stacks

/// The host tools the fake drives as real processes (tar, cp), always as argv arrays with a timeout.
enum HostCommands {
    /// A host command that did not exit 0.
    struct Failure: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    static func run(
        _ executable: String, _ arguments: [String], in directory: String? = nil, timeout: Duration = .seconds(300)
    ) async throws -> CommandOutput {
        do {
            return try await SubprocessCommandRunner().run(
                DockerCommand(executable: executable, arguments: arguments, workingDirectory: directory, timeout: timeout))
        } catch {
            throw Failure(description: "\(executable): \(error)")
        }
    }

    /// A full copy of a directory tree, owners and modes kept: how the fake takes a "snapshot".
    static func copyTree(from source: String, to destination: String) async throws {
        removeTree(destination)
        try FileManager.default.createDirectory(
            atPath: (destination as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let output = try await run("cp", ["-a", "--reflink=auto", "--", source, destination])
        guard output.succeeded else { throw Failure(description: "cp -a \(source) \(destination): \(output.standardError)") }
    }

    /// Removes a tree if it is there; a missing tree is what the caller wants anyway.
    static func removeTree(_ path: String) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            FileHandle.standardError.write(Data("ProxmoxFake: cannot remove \(path): \(error)\n".utf8))
        }
    }

    /// Bytes in regular files under `path`, for the sync lines of suspend mode.
    static func treeSize(_ path: String) -> Int {
        guard let walker = FileManager.default.enumerator(atPath: path) else { return 0 }
        var total = 0
        while let relative = walker.nextObject() as? String {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + relative)
            if attributes?[.type] as? FileAttributeType == .typeRegular {
                total += (attributes?[.size] as? Int) ?? 0
            }
        }
        return total
    }

    /// tar's compression flag for an archive name, as `restore_tar_archive` maps extensions.
    static func compressionFlag(forArchive path: String) -> [String] {
        if path.hasSuffix(".tar.zst") { return ["--zstd"] }
        if path.hasSuffix(".tar.gz") || path.hasSuffix(".tgz") { return ["-z"] }
        if path.hasSuffix(".tar.lzo") { return ["--lzop"] }
        return []
    }

    /// How PVE's `run_command` reports a failed command: `command '<argv joined>' failed: exit code N`.
    static func commandFailure(_ executable: String, _ arguments: [String], _ output: CommandOutput) -> String {
        let quoted = ([executable] + arguments).map { argument in
            argument.range(of: #"^[-\w.,:/@=+]+$"#, options: .regularExpression) != nil ? argument : "'\(argument)'"
        }.joined(separator: " ")
        let how = output.exitCode.map { "exit code \($0)" } ?? "got signal"
        return "command '\(quoted)' failed: \(how)"
    }
}
