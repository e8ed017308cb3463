import NIOCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// A server that could not bind its address, said in one line that names the address.
///
/// NIO reports a busy port as `bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`,
/// which names neither the address nor what to do.
public enum ListenFailure {
    /// The one-line message for `error` when it is a failure to bind `host:port`; `nil` for any other error.
    public static func message(for error: any Error, host: String, port: Int) -> String? {
        guard let error = error as? IOError else { return nil }
        let address = "\(host):\(port)"
        switch error.errnoCode {
        case EADDRINUSE:
            return "cannot listen on \(address): the address is already in use; `ss -ltnp 'sport = :\(port)'` names the process that holds it, or change the listen address in the config"
        case EACCES:
            return "cannot listen on \(address): permission denied; ports below 1024 need root or CAP_NET_BIND_SERVICE"
        case EADDRNOTAVAIL:
            return "cannot listen on \(address): no interface of this machine has that address; fix the listen address in the config"
        default:
            return nil
        }
    }
}
