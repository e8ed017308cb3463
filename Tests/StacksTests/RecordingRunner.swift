import Stacks
import Synchronization

/// Stands in for docker in unit tests: records every command and answers from a script.
final class RecordingRunner: CommandRunner {
    private let recorded = Mutex<[DockerCommand]>([])
    private let answer: @Sendable (DockerCommand) -> CommandOutput

    init(answer: @escaping @Sendable (DockerCommand) -> CommandOutput = { _ in CommandOutput(exitCode: 0, standardOutput: "", standardError: "") }) {
        self.answer = answer
    }

    /// Answers `ps` with `ids` and `inspect` with `inspectJSON`; compose commands succeed.
    convenience init(containerIDs ids: [String], inspectJSON: String) {
        self.init { command in
            switch command.arguments.first {
            case "ps": CommandOutput(exitCode: 0, standardOutput: ids.joined(separator: "\n") + "\n", standardError: "")
            case "inspect": CommandOutput(exitCode: 0, standardOutput: inspectJSON, standardError: "")
            default: CommandOutput(exitCode: 0, standardOutput: "", standardError: "")
            }
        }
    }

    var commands: [DockerCommand] { recorded.withLock { $0 } }

    func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        recorded.withLock { $0.append(command) }
        return answer(command)
    }
}
