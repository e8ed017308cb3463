import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Serialises operations on one stack, across tasks and across processes.
///
/// It is an exclusive `flock` on `lockDirectory/<stack>.lock`. The CLI and the
/// daemon therefore never run compose on the same stack at once, and a killed
/// holder releases the lock with its last file descriptor.
public struct StackLock: Sendable {
    public var lockDirectory: String
    /// How long `acquire` waits before it gives up with a busy error.
    public var wait: Duration
    /// How often a waiter retries. A retry costs one non-blocking syscall.
    public var retryInterval: Duration

    public init(lockDirectory: String, wait: Duration, retryInterval: Duration = .milliseconds(20)) {
        self.lockDirectory = lockDirectory
        self.wait = wait
        self.retryInterval = retryInterval
    }

    /// Runs `body` while holding the lock of `stack`.
    /// - Throws: ``StackError`` `.busy` when the lock stayed taken for `wait`, or what `body` throws.
    public func withLock<T: Sendable>(
        _ stack: StackName, operation: StackOperation,
        _ body: () async throws(StackError) -> T
    ) async throws(StackError) -> T {
        let descriptor = try await acquire(stack, operation: operation)
        defer { close(descriptor) }
        return try await body()
    }

    private func acquire(_ stack: StackName, operation: StackOperation) async throws(StackError) -> Int32 {
        do {
            try FileManager.default.createDirectory(atPath: lockDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        } catch {
            throw StackError(code: .localStateUnusable, stack: stack.rawValue, operation: operation,
                             detail: "cannot create the lock directory \(lockDirectory): \(error.localizedDescription)")
        }
        let path = lockDirectory + "/" + stack.rawValue + ".lock"
        let descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw StackError(code: .localStateUnusable, stack: stack.rawValue, operation: operation,
                             detail: "cannot open the lock file \(path): \(String(cString: strerror(errno)))")
        }
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: wait)
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR, clock.now < deadline else {
                close(descriptor)
                throw StackError(code: .busy, stack: stack.rawValue, operation: operation, detail: "waited \(wait)")
            }
            do {
                try await Task.sleep(for: retryInterval)
            } catch {
                close(descriptor)
                throw StackError(code: .busy, stack: stack.rawValue, operation: operation, detail: "cancelled while waiting")
            }
        }
        return descriptor
    }
}
