/// How often the loop asks the agent, and how long apps may stay down.
public struct QuiesceSettings: Sendable, Equatable {
    /// Between two `GET /backup/due` calls.
    public var pollInterval: Duration
    /// Between two `GET /backup/status` calls while stacks are down.
    public var statusPollInterval: Duration
    /// After this long the stacks restart, whatever the backup is doing.
    public var maxQuiesce: Duration
    /// The first wait before retrying a failed restart; it doubles up to `restartRetryCap`.
    public var restartRetryBase: Duration
    public var restartRetryCap: Duration
    /// How long a shutdown keeps retrying restarts before leaving them to the marker.
    public var shutdownRestartBudget: Duration
    /// How long the agent may take to prepare its capture, while the apps still run, before the
    /// backup goes on without one.
    public var maxPrepare: Duration = .seconds(3600)
    /// Between two status polls in a window that a prepared capture keeps short.
    public var windowPollInterval: Duration = .milliseconds(200)

    public init(
        pollInterval: Duration = .seconds(60), statusPollInterval: Duration = .seconds(2),
        maxQuiesce: Duration = .seconds(1800), restartRetryBase: Duration = .seconds(1),
        restartRetryCap: Duration = .seconds(30), shutdownRestartBudget: Duration = .seconds(60)
    ) {
        self.pollInterval = pollInterval
        self.statusPollInterval = statusPollInterval
        self.maxQuiesce = maxQuiesce
        self.restartRetryBase = restartRetryBase
        self.restartRetryCap = restartRetryCap
        self.shutdownRestartBudget = shutdownRestartBudget
    }
}
