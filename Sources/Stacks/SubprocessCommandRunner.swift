import Subprocess
import Synchronization

#if canImport(System)
import System
#else
import SystemPackage
#endif

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs commands as real processes with swift-subprocess, never through a shell.
///
/// Each command starts in a session of its own, so at the timeout (or when the
/// calling task is cancelled) SIGKILL reaches the whole process group:
/// `docker` and the `docker-compose` plugin it spawns.
public struct SubprocessCommandRunner: CommandRunner {
    /// The most output kept per stream; docker's answers are far smaller.
    public var outputLimit: Int

    public init(outputLimit: Int = 64 << 20) {
        self.outputLimit = outputLimit
    }

    private enum Finish: Sendable {
        case exited(TerminationStatus, String, String)
        case timerFired
    }

    /// A session of its own for each command, and SIGKILL to the whole group when the caller is cancelled.
    private static var platformOptions: PlatformOptions {
        var options = PlatformOptions()
        options.createSession = true
        options.teardownSequence = [.send(signal: .kill, toProcessGroup: true, allowedDurationToNextStep: .seconds(2))]
        return options
    }

    public func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        let process = RunningProcessGroup()
        let options = Self.platformOptions
        let executable: Executable = command.executable.contains("/")
            ? .path(FilePath(command.executable)) : .name(command.executable)
        let workingDirectory = command.workingDirectory.map { FilePath($0) }
        let limit = outputLimit

        let outcome: (status: TerminationStatus, stdout: String, stderr: String)
        let timedOut: Bool
        do {
            (outcome, timedOut) = try await withThrowingTaskGroup(of: Finish.self) { group in
                group.addTask {
                    // swift-subprocess collects both streams to the end itself. Reading them in the
                    // body instead races the child's exit: the library cancels reads still pending
                    // when the process ends, which looked like a cancellation of the whole command.
                    let result = try await Subprocess.run(
                        executable,
                        arguments: Arguments(command.arguments),
                        environment: .inherit,
                        workingDirectory: workingDirectory,
                        platformOptions: options,
                        input: .none,
                        output: .string(limit: limit),
                        error: .string(limit: limit)
                    ) { execution in
                        process.started(execution.processIdentifier.value)
                    }
                    process.finished()
                    return .exited(result.terminationStatus, result.standardOutput, result.standardError)
                }
                group.addTask {
                    try await Task.sleep(for: command.timeout)
                    return .timerFired
                }
                var timerFired = false
                while let finish = try await group.next() {
                    switch finish {
                    case .exited(let status, let stdout, let stderr):
                        group.cancelAll()
                        return ((status, stdout, stderr), timerFired)
                    case .timerFired:
                        timerFired = true
                        process.killGroup()
                    }
                }
                throw CancellationError()
            }
        } catch let error as SubprocessError {
            throw .launchFailed("\(command.executable): \(error)")
        } catch {
            // swift-subprocess has already killed the group with the teardown sequence.
            if Task.isCancelled || error is CancellationError { throw .cancelled }
            throw .launchFailed("\(command.executable): \(error)")
        }

        if timedOut {
            throw .timedOut(after: command.timeout, standardError: outcome.stderr)
        }
        let exitCode: Int32? = if case .exited(let code) = outcome.status { code } else { nil }
        return CommandOutput(exitCode: exitCode, standardOutput: outcome.stdout, standardError: outcome.stderr)
    }
}

/// The process group of one running command, killable until it has been reaped.
private final class RunningProcessGroup: Sendable {
    private struct State {
        var pid: pid_t?
        var running = false
        /// The timeout fired before the process had started; kill it as soon as it does.
        var killRequested = false
    }
    private let state = Mutex(State())

    func started(_ pid: pid_t) {
        state.withLock { state in
            state.pid = pid
            state.running = true
            if state.killRequested { _ = kill(-pid, SIGKILL) }
        }
    }

    func finished() {
        state.withLock { $0.running = false }
    }

    /// Kills the group only while the leader has not been reaped, so a reused pid is never hit.
    func killGroup() {
        state.withLock { state in
            guard let pid = state.pid else {
                state.killRequested = true
                return
            }
            if state.running { _ = kill(-pid, SIGKILL) }
        }
    }
}
