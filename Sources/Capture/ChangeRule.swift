/// Decides whether a file copied in an earlier pass must be copied again.
public protocol ChangeRule: Sendable {
    /// - Parameters:
    ///   - recorded: the file as `lstat` saw it just before the earlier pass read it.
    ///   - copiedAtNs: the wall-clock time (ns, as ctime counts) at which that pass began to read it.
    ///   - current: the file as `lstat` sees it now.
    func isUnchanged(_ recorded: FileState, copiedAtNs: Int64, current: FileState) -> Bool
}

/// The rule the delta pass uses: every field of ``FileState`` equal, and the file not *racy*.
///
/// A file whose ctime was within `racyWindowNs` of the moment its copy began could have been
/// changed again inside the same timestamp tick, invisibly; such a file is always copied again.
/// One second covers ext4 with 128-byte inodes (whole-second stamps) and kernels before 6.13's
/// multigrain timestamps; it costs a re-copy of only what changed in the second before each copy.
///
/// The known limit: a store through a shared writable `mmap` into a page that is already dirty
/// moves neither mtime nor ctime (only the write fault that dirties a clean page does), so such a
/// store made after the full pass read the file is not seen. Apps that write their data through
/// shared mappings (LMDB with `MDB_WRITEMAP`, for one) need the copy method off, or a snapshot.
public struct StrictChangeRule: ChangeRule {
    /// How close to its copy a file's ctime may be before the file counts as changed anyway.
    public var racyWindowNs: Int64

    public init(racyWindowNs: Int64 = 1_000_000_000) {
        self.racyWindowNs = racyWindowNs
    }

    public func isUnchanged(_ recorded: FileState, copiedAtNs: Int64, current: FileState) -> Bool {
        recorded == current && recorded.changedNs < copiedAtNs - racyWindowNs
    }
}
