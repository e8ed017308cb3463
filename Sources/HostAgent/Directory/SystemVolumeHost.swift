import Capture
import Foundation
import Stacks

/// The real ``VolumeHost``: `/proc/self/mountinfo`, and the volume managers' commands run as
/// processes with a timeout and a group kill, never through a shell.
public struct SystemVolumeHost: VolumeHost {
    let runner: any CommandRunner
    /// A snapshot or a mount takes a second; a volume manager hung on a lock must not hold a backup for ever.
    var timeout: Duration = .seconds(120)

    public init(runner: any CommandRunner = SubprocessCommandRunner()) {
        self.runner = runner
    }

    public func mounts() throws(CaptureError) -> MountTable {
        try MountTable.current()
    }

    public func isInstalled(_ tool: String) -> Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/sbin:/usr/bin:/sbin:/bin"
        return path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
    }

    public var mayAdministerVolumes: Bool { ProcessCapabilities.hasSysAdmin }

    public func run(_ tool: String, _ arguments: [String]) async throws(VolumeCommandError) -> String {
        let argv = [tool] + arguments
        let output: CommandOutput
        do {
            output = try await runner.run(DockerCommand(executable: tool, arguments: arguments, timeout: timeout))
        } catch {
            let status = switch error {
            case .launchFailed(let why): "did not start: \(why)"
            case .timedOut(let after, _): "timed out after \(after)"
            case .cancelled: "cancelled"
            }
            let stderr = if case .timedOut(_, let said) = error { said } else { "" }
            throw VolumeCommandError(argv: argv, status: status, standardError: stderr)
        }
        guard output.succeeded else {
            let status = output.exitCode.map { "exit \($0)" } ?? "killed by a signal"
            throw VolumeCommandError(argv: argv, status: status, standardError: output.standardError)
        }
        return output.standardOutput
    }
}
