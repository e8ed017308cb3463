import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// One `felhom-agent run` per state dir and per repository, claimed before anything reads or changes them.
///
/// Startup recovery fails every in-flight op and deletes its files. Run by a
/// second agent beside a live one, it destroyed the live agent's backup before
/// the second process died on the busy port. The claim is an exclusive `flock`
/// on `state_dir/agent.lock`, which the kernel drops when the holder dies,
/// SIGKILL included; the file holds the holder's pid for the refusal message.
public final class StateDirectoryLock: Sendable {
    /// `state_dir/agent.lock`.
    public let path: String
    private let descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
    }

    /// Claims `stateDirectory` (the agent's state dir, or its repository) for this process until
    /// the lock is released or the process ends.
    /// - Throws: ``StateDirectoryLockError``: `.heldByAnotherAgent` names the pid that holds it.
    public static func acquire(stateDirectory: String) throws(StateDirectoryLockError) -> StateDirectoryLock {
        let path = stateDirectory + "/agent.lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StateDirectoryLockError(code: .unusable, path: path, detail: String(cString: strerror(errno)))
        }
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let failure = errno
            if failure == EINTR { continue }
            defer { close(descriptor) }
            guard failure == EWOULDBLOCK else {
                throw StateDirectoryLockError(code: .unusable, path: path, detail: String(cString: strerror(failure)))
            }
            throw StateDirectoryLockError(code: .heldByAnotherAgent, path: path, holderPID: holderPID(descriptor))
        }
        // Only the holder writes its pid; a refused process leaves the file as it found it.
        let pid = Array("\(getpid())\n".utf8)
        guard ftruncate(descriptor, 0) == 0, pwrite(descriptor, pid, pid.count, 0) == pid.count else {
            let detail = String(cString: strerror(errno))
            close(descriptor)
            throw StateDirectoryLockError(code: .unusable, path: path, detail: detail)
        }
        return StateDirectoryLock(path: path, descriptor: descriptor)
    }

    private static func holderPID(_ descriptor: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let count = pread(descriptor, &buffer, buffer.count, 0)
        guard count > 0 else { return nil }
        return Int32(String(decoding: buffer[..<count], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }
}

/// Why the agent could not claim its state dir.
public struct StateDirectoryLockError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// Another `felhom-agent run` serves this state dir.
        case heldByAnotherAgent
        /// The lock file cannot be opened, locked or written.
        case unusable
    }

    public var code: Code
    public var path: String
    public var holderPID: Int32?
    public var detail: String?

    public init(code: Code, path: String, holderPID: Int32? = nil, detail: String? = nil) {
        self.code = code
        self.path = path
        self.holderPID = holderPID
        self.detail = detail
    }

    public var description: String {
        switch code {
        case .heldByAnotherAgent:
            let holder = holderPID.map { "pid \($0)" } ?? "a process that has not written its pid yet"
            return "another felhom-agent (\(holder)) is running on this directory (lock \(path)); "
                + "this one changed nothing and exits. Stop the other one first (systemctl stop felhom-agent), "
                + "or give this one its own state_dir and repository"
        case .unusable:
            return "cannot lock the state dir through \(path): \(detail ?? "unknown error"); check that state_dir exists and is writable by this user"
        }
    }
}
