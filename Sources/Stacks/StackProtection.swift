/// The one rule for whether a stack is protected infrastructure, which nothing here takes down
/// without `--force`. `stacks list`, the customer API, the quiesce selection and
/// `stop|restart|down` all ask it, so they cannot disagree.
///
/// A stack is protected when any of these holds:
/// - its name is in the config's `protected` list;
/// - one of its containers carries `eu.felhom.protected=true`, which is what compose resolved
///   when it deployed the stack, whatever the file says now (`include:`, `extends`, `.env`…);
/// - its compose file marks a service so;
/// - its compose file cannot be read: nothing then proves it safe to stop.
public enum StackProtection {
    public static func isProtected(
        name: String, configured: Set<String>, summary: Result<ComposeFileSummary, ComposeFileError>?, containers: [ComposeContainer]
    ) -> Bool {
        if configured.contains(name) { return true }
        if containers.contains(where: \.isProtected) { return true }
        switch summary {
        case .success(let summary): return summary.hasProtectedService
        case .failure: return true
        case nil: return false
        }
    }
}
