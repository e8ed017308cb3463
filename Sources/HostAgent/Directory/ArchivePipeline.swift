import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `tar -c` piped through this process into `zstd`, so every byte of the
/// archive passes the ``TarStreamReader`` that writes the manifest.
struct ArchivePipeline: Sendable {
    var tar = "tar"
    var zstd = "zstd"
    var compressionLevel = 1

    /// What tar and zstd said when they failed.
    struct Failure: Error, Sendable {
        var tool: String
        var exitCode: Int32?
        var standardError: String
    }

    private static var platformOptions: PlatformOptions {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(1))]
        return options
    }

    /// Archives `source` into `archivePath` and returns the entries the stream held.
    /// `progress` gets the file-content bytes archived so far.
    /// - Parameter background: run tar and zstd at the lowest CPU and I/O priority, for an archive of
    ///   a capture: the apps are starting again beside it, and their start is the downtime.
    func archive(
        source: String, to archivePath: String, background: Bool = false, progress: @Sendable (Int64) -> Void
    ) async throws -> TarStreamReader.Entries {
        let reader = Mutex(TarStreamReader())
        let (zstdExecutable, zstdArguments) = Self.command(zstd, ["-\(compressionLevel)", "-q", "-f", "-o", archivePath], background: background)
        let zstdRun = try await Subprocess.run(
            zstdExecutable,
            arguments: Arguments(zstdArguments),
            platformOptions: Self.platformOptions,
            input: .inputWriter,
            output: .discarded,
            error: .string(limit: 16 << 10)
        ) { zstdExecution -> ExecutionResult<Void, SequenceOutput, StringOutput<UTF8>>? in
            let writer = zstdExecution.standardInputWriter
            // When zstd dies (a full disk, say) the write fails; stop tar and let
            // zstd's exit status and stderr tell what happened.
            struct CompressorGone: Error {}
            do {
                let (tarExecutable, tarArguments) = Self.command(tar, [
                    "--create", "--file=-", "--format=posix", "--pax-option=delete=atime,delete=ctime",
                    "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls", "--directory=\(source)", ".",
                ], background: background)
                let tarRun = try await Subprocess.run(
                    tarExecutable,
                    arguments: Arguments(tarArguments),
                    platformOptions: Self.platformOptions,
                    input: .none,
                    output: .sequence,
                    error: .string(limit: 16 << 10)
                ) { tarExecution in
                    for try await buffer in tarExecution.standardOutput {
                        let chunk = buffer.withUnsafeBytes { Array($0) }
                        let done = try reader.withLock { reader in
                            try chunk.withUnsafeBytes { try reader.consume($0) }
                            return reader.contentBytes
                        }
                        do {
                            _ = try await writer.write(chunk)
                        } catch {
                            throw CompressorGone()
                        }
                        progress(done)
                    }
                }
                try await writer.finish()
                return tarRun
            } catch is CompressorGone {
                return nil
            }
        }
        guard case .exited(0) = zstdRun.terminationStatus, let tarRun = zstdRun.closureResult else {
            throw Failure(tool: "zstd", exitCode: Self.exitCode(zstdRun.terminationStatus), standardError: zstdRun.standardError)
        }
        // GNU tar exits 1 when a file changed while it was read: the archive is
        // still whole, and the manifest hashes what was actually archived.
        if case .exited(let code) = tarRun.terminationStatus, code == 0 || code == 1 {
        } else {
            throw Failure(tool: "tar", exitCode: Self.exitCode(tarRun.terminationStatus), standardError: tarRun.standardError)
        }
        return try reader.withLock { reader in
            guard reader.isComplete else { throw TarStreamError.corrupt("the stream ended before the end-of-archive blocks") }
            return reader.entries
        }
    }

    /// GNU tar's arguments that extract `archive` into `directory` with everything `archive(source:…)`
    /// kept: numeric owners, xattrs and ACLs. Holes are not kept; a sparse file comes back whole.
    static func extractArguments(archive: String, directory: String) -> [String] {
        ["--extract", "--zstd", "--file=\(archive)", "--directory=\(directory)", "--numeric-owner", "--xattrs", "--xattrs-include=*", "--acls"]
    }

    /// `tool arguments`, or under `nice -n 19 ionice -c 2 -n 7` in the background.
    private static func command(_ tool: String, _ arguments: [String], background: Bool) -> (Executable, [String]) {
        guard background else { return (executable(tool), arguments) }
        return (.name("nice"), ["-n", "19", "ionice", "-c", "2", "-n", "7", tool] + arguments)
    }

    private static func executable(_ name: String) -> Executable {
        name.contains("/") ? .path(FilePath(name)) : .name(name)
    }

    private static func exitCode(_ status: TerminationStatus) -> Int32? {
        if case .exited(let code) = status { code } else { nil }
    }
}
