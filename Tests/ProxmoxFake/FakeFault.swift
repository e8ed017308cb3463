/// A failure a test asks the fake to produce. Faults stay until used up or until `clearFaults()`.
public enum FakeFault: Sendable {
    /// Answers matching requests with `status` and an EMPTY body, as pveproxy does with the AnyEvent::HTTP
    /// pseudo-statuses 595 (connection failed) and 596 (timed out).
    /// - Parameters:
    ///   - method: `GET`, `POST`, `PUT` or `DELETE`.
    ///   - pathSuffix: matched against the end of the path below `/api2/json`.
    ///   - times: how many requests get this answer.
    ///   - afterHandling: handle the request fully (a task starts) and only then replace the answer: a lost answer.
    case answer(status: Int, method: String, pathSuffix: String, times: Int, afterHandling: Bool)
    /// The next vzdump task ends with this exit status: `OK`, `WARNINGS: 1`, `job errors`,
    /// `interrupted by signal`, `unexpected status` (as if SIGKILLed before the rename), or any other error text.
    case vzdumpExit(String)
    /// The next vzdump task fails its guest with this reason, so it ends `job errors`.
    /// A reason starting `CT is locked` fails where locking fails; any other fails while archiving.
    case vzdumpJobError(reason: String)
    /// Someone else holds the node's vzdump lock for this long from now.
    case globalLock(seconds: Double)
    /// The guest lives on another cluster node: `POST vzdump` for it answers `{"data":"OK"}` and starts no task.
    case vzdumpOnOtherNode(vmid: Int)
    /// The storage cannot snapshot, so snapshot mode falls back to suspend mode.
    case noSnapshotSupport
    /// The next vzrestore task fails with `unable to restore CT N - <message>` while extracting.
    case restoreFails(String)
    /// Matching requests get 403 `Permission check failed (<path>, <privilege>)`.
    case permissionDenied(path: String, privilege: String, method: String, pathSuffix: String)
    /// `POST /nodes/{node}/lxc` fails with 500 `cluster not ready - no quorum?`.
    case noQuorum
}
