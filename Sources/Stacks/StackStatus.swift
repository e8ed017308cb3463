/// The state of a whole stack.
public enum StackStatus: String, Codable, Sendable, CaseIterable {
    /// Every service is running.
    case running
    /// Some services run and some do not.
    case partial
    /// Containers exist, none runs.
    case stopped
    /// The stack has no containers.
    case notDeployed = "not_deployed"
    /// The directory's name is not a valid stack name; docker is never asked about it.
    case invalid
    /// Docker knows the compose project but `stacks_dir` does not; read-only here.
    case unmanaged

    /// Whether any of the stack's services is up.
    public var isUp: Bool { self == .running || self == .partial }
}

/// One stack as `stacks list` and the API report it.
public struct StackInfo: Codable, Sendable, Equatable {
    public var name: String
    public var status: StackStatus
    public var protected: Bool
    public var servicesRunning: Int
    public var servicesTotal: Int
    public var services: [ServiceInfo]
    /// The stack's directory: in `stacks_dir`, or compose's working directory for an unmanaged project.
    public var directory: String?
    public var composeFile: String?
    /// Why the stack needs attention, e.g. an invalid name or an unreadable compose file.
    public var problem: String?

    public init(
        name: String, status: StackStatus, protected: Bool, services: [ServiceInfo],
        directory: String?, composeFile: String?, problem: String?
    ) {
        self.name = name
        self.status = status
        self.protected = protected
        self.services = services
        self.servicesRunning = services.filter(\.isRunning).count
        self.servicesTotal = services.count
        self.directory = directory
        self.composeFile = composeFile
        self.problem = problem
    }

    enum CodingKeys: String, CodingKey {
        case name, status, protected, services, directory, problem
        case servicesRunning = "services_running"
        case servicesTotal = "services_total"
        case composeFile = "compose_file"
    }
}

/// One service of a stack.
public struct ServiceInfo: Codable, Sendable, Equatable {
    /// The state compose would create a service in before it exists.
    public static let notCreated = "not_created"

    public var name: String
    /// Docker's container state (`running`, `exited`, `created`, `restarting`, `paused`, `dead`),
    /// or `not_created`. With several replicas, the state of the first one that is not running.
    public var state: String
    /// `healthy`, `unhealthy` or `starting` when the service has a healthcheck.
    public var health: String?
    /// The exit code of a container that is not running.
    public var exitCode: Int?
    /// How many containers the service has.
    public var containers: Int

    public init(name: String, state: String, health: String?, exitCode: Int?, containers: Int) {
        self.name = name
        self.state = state
        self.health = health
        self.exitCode = exitCode
        self.containers = containers
    }

    /// Whether every container of the service runs.
    public var isRunning: Bool { state == "running" }

    enum CodingKeys: String, CodingKey {
        case name, state, health, containers
        case exitCode = "exit_code"
    }
}
