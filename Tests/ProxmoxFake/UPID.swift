import Foundation

/// A PVE task id, encoded and parsed exactly as pve-common's `PVE/UPID.pm` does.
struct UPID: Sendable, Equatable {
    var node: String
    var pid: Int
    var pstart: Int
    var startTime: Int
    var type: String
    var id: String
    /// The full user, `user@realm!token` for token tasks.
    var user: String

    /// `UPID:%s:%08X:%08X:%08X:%s:%s:%s:`
    var text: String {
        "UPID:\(node):\(Self.hex(pid, width: 8)):\(Self.hex(pstart, width: 8)):\(Self.hex(startTime, width: 8)):\(type):\(id):\(user):"
    }

    private static func hex(_ value: Int, width: Int) -> String {
        let digits = String(value, radix: 16, uppercase: true)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }

    /// Parses with the decoding regex of `UPID.pm`; `nil` when PVE would say "unable to parse worker upid".
    init?(parsing text: String) {
        let pattern = #"^UPID:([a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?):([0-9A-Fa-f]{8}):([0-9A-Fa-f]{8,9}):([0-9A-Fa-f]{8}):([^:\s/]+):([^:\s/]*):([^:\s/]+):$"#
        guard let regex = try? NSRegularExpression(pattern: pattern),
              let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) else { return nil }
        func group(_ index: Int) -> String {
            guard let range = Range(match.range(at: index), in: text) else { return "" }
            return String(text[range])
        }
        guard let pid = Int(group(3), radix: 16), let pstart = Int(group(4), radix: 16),
              let startTime = Int(group(5), radix: 16) else { return nil }
        self.init(node: group(1), pid: pid, pstart: pstart, startTime: startTime, type: group(6), id: group(7), user: group(8))
    }

    init(node: String, pid: Int, pstart: Int, startTime: Int, type: String, id: String, user: String) {
        self.node = node
        self.pid = pid
        self.pstart = pstart
        self.startTime = startTime
        self.type = type
        self.id = id
        self.user = user
    }
}
