/// The one rule for whether a stack is protected infrastructure, which nothing here takes down
/// without `--force`. `stacks list`, the customer API, the quiesce selection and
/// `stop|restart|down` all ask it, so they cannot disagree.
///
/// A stack is protected when any of these holds:
/// - its name is in the config's `protected` list;
/// - compose's resolution of its files labels a service `eu.felhom.protected=true`;
/// - one of its containers carries that label, which is what compose resolved when it was
///   deployed, whatever the files say now;
/// - compose cannot resolve its files: nothing then proves it safe to stop.
public enum StackProtection {
    /// - Parameter project: compose's resolution, or `nil` for a project with no directory here.
    public static func isProtected(
        name: String, configured: Set<String>, project: Result<ComposeProject, ComposeFileError>?, containers: [ComposeContainer]
    ) -> Bool {
        if configured.contains(name) { return true }
        if containers.contains(where: \.isProtected) { return true }
        switch project {
        case .success(let project): return project.isProtected
        case .failure: return true
        case nil: return false
        }
    }
}
