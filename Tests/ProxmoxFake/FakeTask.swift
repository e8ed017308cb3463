/// One worker task of the fake node, as a test sees it.
public struct FakeTask: Sendable, Equatable {
    public var upid: String
    /// The worker type: `vzdump`, `vzrestore`, `vzstart`, `imgdel`, ….
    public var type: String
    /// The task's id field: a vmid as a string, `101@local` for `imgdel`, empty for a vzdump of several guests.
    public var id: String
    /// The full user the task ran as, `felhom@pve!agent` for the token.
    public var user: String
    /// Epoch seconds, as in the UPID.
    public var startTime: Int
    public var running: Bool
    /// `nil` while running; then `OK`, `WARNINGS: n`, the error message, or `unexpected status`.
    public var exitStatus: String?
    /// The task log, one entry a line, without the `n` numbering.
    public var log: [String]
}
