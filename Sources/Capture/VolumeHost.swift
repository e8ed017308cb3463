/// What the host says and does about volumes: its mount table and the volume managers' commands
/// (`zfs`, `lvs`, `lvcreate`, `mount`, …). The seam unit tests replace; the agent's conformer
/// runs real processes, never through a shell.
public protocol VolumeHost: Sendable {
    /// The mounts this process sees.
    func mounts() throws(CaptureError) -> MountTable
    /// Whether `tool` is an executable on `PATH`.
    func isInstalled(_ tool: String) -> Bool
    /// Whether this process may administer volumes (`CAP_SYS_ADMIN`): snapshot, mount, remove.
    var mayAdministerVolumes: Bool { get }
    /// Runs `tool` with `arguments` and returns its standard output.
    /// A non-zero exit is a ``VolumeCommandError`` that carries the command's stderr.
    func run(_ tool: String, _ arguments: [String]) async throws(VolumeCommandError) -> String
}

/// A volume manager's command that failed: the argv, and what it said.
public struct VolumeCommandError: Error, Sendable, Equatable, CustomStringConvertible {
    public var argv: [String]
    /// `exit N`, `timed out after …` or why it did not start.
    public var status: String
    public var standardError: String

    public init(argv: [String], status: String, standardError: String) {
        self.argv = argv
        self.status = status
        self.standardError = standardError
    }

    public var description: String {
        let said = standardError.trimmedWhitespace
        return "`\(argv.joined(separator: " "))` failed (\(status))" + (said.isEmpty ? "" : ": \(said)")
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines; Capture does without Foundation.
    var trimmedWhitespace: String {
        var text = Substring(self)
        while let first = text.first, first.isWhitespace { text = text.dropFirst() }
        while let last = text.last, last.isWhitespace { text = text.dropLast() }
        return String(text)
    }
}
