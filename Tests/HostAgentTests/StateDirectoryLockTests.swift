import Foundation
import HostAgent
import TestSupport
import Testing

@Suite("The agent's claim on its state dir")
struct StateDirectoryLockTests {
    @Test("a second claim is refused with the holder's pid, and succeeds once the first is released")
    func exclusive() async throws {
        let directory = try TemporaryDirectory("state-lock")
        var first: StateDirectoryLock? = try StateDirectoryLock.acquire(stateDirectory: directory.path)
        #expect(throws: StateDirectoryLockError(code: .heldByAnotherAgent, path: directory.path + "/agent.lock", holderPID: getpid())) {
            _ = try StateDirectoryLock.acquire(stateDirectory: directory.path)
        }
        withExtendedLifetime(first) {}
        first = nil
        // A process another test forks in this instant holds the descriptor until its exec closes it (O_CLOEXEC).
        var second: StateDirectoryLock?
        _ = await eventually(timeout: .seconds(30), every: .milliseconds(20)) {
            second = try? StateDirectoryLock.acquire(stateDirectory: directory.path)
            return second != nil
        }
        let claimed = try #require(second, "the released lock could be claimed again")
        #expect(claimed.path == directory.path + "/agent.lock")
        let mode = try FileManager.default.attributesOfItem(atPath: claimed.path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
    }

    @Test("a state dir that does not exist is a clear error that names the path")
    func missingDirectory() {
        #expect {
            _ = try StateDirectoryLock.acquire(stateDirectory: "/nonexistent/felhom-state")
        } throws: { error in
            let error = error as? StateDirectoryLockError
            return error?.code == .unusable && error?.description.contains("/nonexistent/felhom-state/agent.lock") == true
        }
    }
}
