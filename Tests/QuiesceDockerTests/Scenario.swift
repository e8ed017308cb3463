import Foundation
import TestSupport

/// The setup most quiesce tests share: fixtures up, optional bulk data, and an agent over the stacks dir.
enum Scenario {
    /// Brings `fixtures` up, writes `bulkBytes` into webapp's data so a backup lasts, and starts an agent
    /// whose guest `guest` backs up the whole stacks dir. Returns the agent and the guest's token.
    static func appsAndAgent(
        _ fx: FixtureStacks, up fixtures: [String], bulkBytes: Int = 0, agentEnvironment: [String: String] = [:]
    ) async throws -> (AgentHarness, String) {
        for fixture in fixtures { try await Docker.up(fx, fixture) }
        if bulkBytes > 0 {
            try Data(randomBytes(bulkBytes)).write(to: URL(fileURLWithPath: fx.directory("webapp") + "/data/big.bin"))
        }
        let agent = try await AgentHarness()
        let token = try await agent.addGuest("guest", dataDirectory: fx.stacksDirectory)
        try await agent.start(environment: agentEnvironment)
        return (agent, token)
    }
}
