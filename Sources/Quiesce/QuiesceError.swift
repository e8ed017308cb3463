/// Why a quiesce step failed, with what to do about it.
public struct QuiesceError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case marker
        case stacks
        case agent
        case bound
        case cancelled
        case records
        case busy
        /// The request itself is wrong, e.g. a backup id of the wrong shape; nothing was done.
        case invalidRequest
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
