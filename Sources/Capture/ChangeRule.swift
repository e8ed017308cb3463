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
public struct StrictChangeRule: ChangeRule {
    public var racyWindowNs: Int64

    public init(racyWindowNs: Int64 = 1_000_000_000) {
        self.racyWindowNs = racyWindowNs
    }

    public func isUnchanged(_ recorded: FileState, copiedAtNs: Int64, current: FileState) -> Bool {
        recorded == current && recorded.changedNs < copiedAtNs - racyWindowNs
    }
}
