import AgentAPI
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("Both programs say which release they are")
struct VersionTests {
    @Test("felhom-controller --version and felhom-agent --version print the release")
    func versions() async throws {
        let controller = try await ControllerBinary.run(["--version"])
        #expect(controller.exitCode == 0 && controller.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == ProductVersion.current, "\(controller)")
        let agent = try await SubprocessCommandRunner().run(DockerCommand(executable: AgentHarness.binary, arguments: ["--version"], timeout: .seconds(60)))
        #expect(agent.exitCode == 0 && agent.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines) == ProductVersion.current, "\(agent)")
    }
}
