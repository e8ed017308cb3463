/// The validated name of a stack: its directory name and its compose project name.
///
/// Only a `StackName` can reach a docker argv, so a directory called
/// `shop; rm -rf /` or `--help` can be listed but never passed to docker.
public struct StackName: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The longest name compose accepts under our rule `^[a-z0-9][a-z0-9_-]{0,62}$`.
    public static let maximumLength = 63

    /// The name as docker sees it.
    public let rawValue: String

    /// Validates `rawValue` against `^[a-z0-9][a-z0-9_-]{0,62}$`; `nil` when it does not match.
    public init?(_ rawValue: String) {
        guard Self.isValid(rawValue) else { return nil }
        self.rawValue = rawValue
    }

    /// Validates `rawValue`, throwing a `StackError` with code `.invalidName` when it does not match.
    public init(validating rawValue: String) throws(StackError) {
        guard let name = StackName(rawValue) else {
            throw StackError(code: .invalidName, stack: rawValue)
        }
        self = name
    }

    /// Whether `candidate` matches `^[a-z0-9][a-z0-9_-]{0,62}$`.
    public static func isValid(_ candidate: String) -> Bool {
        let bytes = Array(candidate.utf8)
        guard let first = bytes.first, bytes.count <= maximumLength else { return false }
        guard isLowerAlphanumeric(first) else { return false }
        return bytes.dropFirst().allSatisfy { isLowerAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
    }

    private static func isLowerAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    public var description: String { rawValue }

    public static func < (lhs: StackName, rhs: StackName) -> Bool { lhs.rawValue < rhs.rawValue }
}
