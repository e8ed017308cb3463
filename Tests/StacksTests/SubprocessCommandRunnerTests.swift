import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Running real processes")
struct SubprocessCommandRunnerTests {
    let runner = SubprocessCommandRunner()

    @Test("stdout, stderr and the exit code come back; arguments are never split by a shell")
    func collectsOutput() async throws {
        let output = try await runner.run(DockerCommand(
            executable: "/bin/sh", arguments: ["-c", "printf '%s' \"$1\"; echo oops >&2; exit 3", "sh", "a b; echo injected"],
            timeout: .seconds(10)))
        #expect(output == CommandOutput(exitCode: 3, standardOutput: "a b; echo injected", standardError: "oops\n"))
    }

    @Test("at the timeout the whole process tree is killed and stderr so far is kept")
    func timeoutKillsTree() async throws {
        let marker = "felhom-timeout-\(UInt32.random(in: 0...UInt32.max))"
        let started = ContinuousClock.now
        // 3 s: long enough for a loaded machine to have run the `echo`, far short of the 30 s sleeps.
        await #expect(throws: CommandRunError.timedOut(after: .seconds(3), standardError: "started\n")) {
            try await runner.run(DockerCommand(
                executable: "/bin/sh",
                arguments: ["-c", "echo started >&2; sh -c 'sleep 30' \(marker) & sleep 30; wait", marker],
                timeout: .seconds(3)))
        }
        #expect(ContinuousClock.now - started < .seconds(25), "killed at the timeout, not after the sleeps")
        let survivors = { () -> [String] in
            let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
            return pids.filter { $0.allSatisfy(\.isNumber) }.compactMap { pid in
                let line = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline").map { String(decoding: $0, as: UTF8.self) } ?? ""
                return line.contains(marker) ? line : nil
            }
        }
        #expect(await eventually(timeout: .seconds(30), every: .milliseconds(50)) { survivors().isEmpty },
                "the grandchild must die with the group")
    }

    @Test("a missing executable is a launch failure, not a crash")
    func missingExecutable() async {
        await #expect {
            try await runner.run(DockerCommand(executable: "/nonexistent/docker", arguments: [], timeout: .seconds(5)))
        } throws: { error in
            if case .launchFailed = error as? CommandRunError { return true }
            return false
        }
    }
}
