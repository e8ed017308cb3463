#if canImport(Glibc)
import Glibc
#endif

/// The capabilities this process holds, from `/proc/self/status`.
public enum ProcessCapabilities {
    /// Whether `CAP_SYS_ADMIN` is effective. Deleting a btrfs snapshot, `zfs snapshot`, the LVM
    /// tools and `mount` all need it; a hardened unit may leave it out, and then a snapshot
    /// taken could not be removed again.
    public static var hasSysAdmin: Bool {
        guard let file = fopen("/proc/self/status", "r") else { return false }
        defer { fclose(file) }
        var line: UnsafeMutablePointer<CChar>?
        var capacity = 0
        defer { free(line) }
        while getline(&line, &capacity, file) > 0, let line {
            let text = String(cString: line)
            guard text.hasPrefix("CapEff:") else { continue }
            let hex = text.dropFirst("CapEff:".count).trimmingWhitespace
            guard let mask = UInt64(hex, radix: 16) else { return false }
            // CAP_SYS_ADMIN is capability 21.
            return mask & (1 << 21) != 0
        }
        return false
    }
}

extension Substring {
    fileprivate var trimmingWhitespace: String { String(self).trimmedWhitespace }
}
