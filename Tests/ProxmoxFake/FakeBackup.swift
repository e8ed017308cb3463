/// One vzdump archive on the fake's storage, read from the dump directory as PVE's directory storage does.
public struct FakeBackup: Sendable, Equatable {
    /// `local:backup/vzdump-lxc-101-2026_12_06-05_40_00.tar.zst`
    public var volid: String
    public var vmid: Int
    /// The archive's absolute path.
    public var path: String
    public var size: Int
    /// Epoch seconds taken from the file name's local time, as `archive_info` computes it.
    public var ctime: Int
    /// The whole notes file, `nil` when there is none.
    public var notes: String?
    public var protected: Bool
}
