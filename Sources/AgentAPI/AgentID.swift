/// The shapes of the ids the agent hands out, e.g. `b-20261125T020000Z-1a2b3c4d`.
///
/// Every id a request carries is checked against its shape before any lookup.
/// SQLite's binding stops at a NUL, so `b-…%00junk` used to find the real
/// backup; and an id that is not an id has no business in a query, a log line
/// or a path.
public enum AgentID {
    /// What an id names, by its one-letter prefix.
    public enum Kind: String, Sendable, CaseIterable {
        case backup = "b"
        case rollback = "r"
        case restoreTest = "t"
    }

    /// An example of the shape, for error messages: `b-20261125T020000Z-1a2b3c4d`.
    public static func example(_ kind: Kind) -> String { "\(kind.rawValue)-20261125T020000Z-1a2b3c4d" }

    /// The documented pattern, as in `docs/openapi/agent.yaml`.
    public static func pattern(_ kind: Kind) -> String { "^\(kind.rawValue)-[0-9]{8}T[0-9]{6}Z-[0-9a-f]{4,32}$" }

    /// Whether `candidate` has the shape of a `kind` id: prefix, UTC timestamp, 4 to 32 lowercase hex digits.
    public static func isValid(_ candidate: String, kind: Kind) -> Bool {
        let bytes = Array(candidate.utf8)
        let prefix = Array("\(kind.rawValue)-".utf8)
        // prefix(2) + date(8) + T + time(6) + "Z-"(2) = 19, then the hex suffix.
        guard bytes.count >= 19 + 4, bytes.count <= 19 + 32, bytes.starts(with: prefix) else { return false }
        let digit = UInt8(ascii: "0")...UInt8(ascii: "9")
        let hexLetter = UInt8(ascii: "a")...UInt8(ascii: "f")
        return bytes[2..<10].allSatisfy(digit.contains) && bytes[10] == UInt8(ascii: "T")
            && bytes[11..<17].allSatisfy(digit.contains) && bytes[17] == UInt8(ascii: "Z") && bytes[18] == UInt8(ascii: "-")
            && bytes[19...].allSatisfy { digit.contains($0) || hexLetter.contains($0) }
    }
}
