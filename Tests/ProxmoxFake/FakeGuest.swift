/// One LXC guest of the fake node, as a test sees it.
public struct FakeGuest: Sendable, Equatable {
    public var vmid: Int
    public var hostname: String
    public var running: Bool
    /// The config's `lock` (`backup`, `snapshot`, `rollback`, …), `nil` when unlocked.
    public var lock: String?
    /// The directory that stands in for the container's root filesystem.
    public var rootfs: String
    /// The config as `GET …/config` shows it, without `lock` and `digest`.
    public var config: [String: String]
    /// Snapshot names, oldest first; `current` is not one of them.
    public var snapshots: [String]
}
