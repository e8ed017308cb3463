import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket listening on a free loopback port: for a test that needs a port
/// taken, a peer that never speaks, or a port free to put in a config.
/// Open until ``close()``, so a test says how long it holds the port.
public struct LoopbackListener: Sendable {
    public let descriptor: Int32
    public let port: Int

    public init() throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw HarnessError("socket: errno \(errno)") }
        var address = sockaddr_in(sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")), sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) } }
        guard bound == 0, listen(descriptor, 4) == 0 else {
            _ = Glibc.close(descriptor)
            throw HarnessError("cannot listen on a loopback port: errno \(errno)")
        }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) } }
        self.descriptor = descriptor
        port = Int(UInt16(bigEndian: address.sin_port))
    }

    public func close() { _ = Glibc.close(descriptor) }

    /// A port free at the moment of asking, for a config that must name one.
    public static func freePort() throws -> Int {
        let listener = try LoopbackListener()
        listener.close()
        return listener.port
    }
}
