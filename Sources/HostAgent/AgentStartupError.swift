/// Why `felhom-agent run` cannot start, before it has changed anything.
public struct AgentStartupError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// `state_dir` is not a directory this process can write.
        case stateDirectory
        /// `repository` is not a directory this process can write.
        case repository
        /// There is no TLS identity yet.
        case identity
        /// `proxmox.token_file` is missing, exposed or holds no token.
        case proxmoxToken
    }

    public var code: Code
    public var path: String
    public var reason: String

    public init(_ code: Code, path: String, reason: String) {
        self.code = code
        self.path = path
        self.reason = reason
    }

    public var description: String {
        switch code {
        case .stateDirectory: "state_dir \(path) \(reason); point state_dir at a directory the agent can write (`felhom-agent init` creates it)"
        case .repository: "repository \(path) \(reason); point repository at a directory the agent can write"
        case .identity: "no TLS key at \(path); run `felhom-agent init --config FILE` first"
        case .proxmoxToken: "proxmox.token_file \(path) \(reason)"
        }
    }
}
