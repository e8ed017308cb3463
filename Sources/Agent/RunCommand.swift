import ArgumentParser
import CommandLineSupport
import HostAgent
import Logging

/// `felhom-agent run`: recover, then serve until SIGTERM.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Resolve interrupted ops, then serve the agent API over HTTPS until SIGTERM."
    )

    @OptionGroup var options: AgentOptions

    func run() async throws {
        try await reportingFailures {
            let configuration = try options.loadConfig()
            do {
                try await AgentServer(configuration: configuration, logger: Logger(label: "felhom-agent")).run()
            } catch {
                throw CommandFailure(message: "\(error)")
            }
        }
    }
}
