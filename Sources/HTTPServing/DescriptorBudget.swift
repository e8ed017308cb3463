#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The process's open-file limit, weighed against a server's connection cap at startup.
///
/// Past the limit `accept` fails with EMFILE and every request fails, the authenticated ones too.
/// So the connection cap must stay below the limit, with room for the process's own files:
/// its database, logs, archives being written, and the pipes of the tools it runs.
public struct DescriptorBudget: Sendable, Equatable {
    /// Descriptors kept back for everything that is not a connection.
    public static let reserve = 128
    /// Below this soft limit the server logs a warning even when its cap fits.
    public static let comfortableLimit = 1024

    /// The soft `RLIMIT_NOFILE` after ``raiseToHardLimit()``.
    public var limit: Int
    /// The connection cap that fits: the configured one, lowered when the limit is too low for it.
    public var connectionCap: Int
    /// Why the operator should look, or `nil` when the budget is comfortable.
    public var warning: String?

    /// The budget for `configuredCap` connections under a soft limit of `limit` descriptors.
    public init(limit: Int, configuredCap: Int) {
        self.limit = limit
        let fits = max(1, limit - Self.reserve)
        connectionCap = min(configuredCap, fits)
        if connectionCap < configuredCap {
            warning = "the open-file limit is \(limit), too low for connections.max \(configuredCap) plus \(Self.reserve) for the server's own files; at most \(connectionCap) connections will be accepted. Raise LimitNOFILE= (systemd) or `ulimit -n`."
        } else if limit < Self.comfortableLimit {
            warning = "the open-file limit is \(limit), below \(Self.comfortableLimit); raise LimitNOFILE= (systemd) or `ulimit -n` if backups or requests fail with \"too many open files\"."
        } else {
            warning = nil
        }
    }

    /// The budget of this process, after raising its soft limit as far as its hard limit allows.
    public static func current(configuredCap: Int) -> DescriptorBudget {
        DescriptorBudget(limit: raiseToHardLimit(), configuredCap: configuredCap)
    }

    /// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped at 65536) and returns the soft limit now in force.
    /// Raising is allowed without privileges; a failure leaves the old limit, which is then reported.
    @discardableResult
    public static func raiseToHardLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limits) == 0 else { return comfortableLimit }
        let wanted = min(limits.rlim_max, 65536)
        if limits.rlim_cur < wanted {
            var raised = limits
            raised.rlim_cur = wanted
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limits = raised }
        }
        return Int(clamping: limits.rlim_cur)
    }
}
