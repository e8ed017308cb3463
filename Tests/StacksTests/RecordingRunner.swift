import Foundation
import Stacks
import Synchronization
import Yams

/// Stands in for docker in unit tests: records every command and answers from a script;
/// `compose config` is always answered from the directory's compose file.
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

    /// Compose does this for real in the docker tests; here a plain reading of compose.yaml
    /// (no interpolation, includes or overrides) stands in, in the shape `config --format json` prints.
    static func resolvedConfig(_ command: DockerCommand) -> CommandOutput? {
        guard command.arguments.contains("config"), let directory = command.workingDirectory else { return nil }
        guard let file = StackDirectory.composeFileNames.first(where: { FileManager.default.fileExists(atPath: directory + "/" + $0) }),
              let text = try? String(contentsOfFile: directory + "/" + file, encoding: .utf8),
              let root = (try? Yams.load(yaml: text)) as? [String: Any] else {
            return CommandOutput(exitCode: 15, standardOutput: "", standardError: "yaml: cannot read compose.yaml")
        }
        var services: [String: Any] = [:]
        for case let (name, definition as [String: Any]) in root["services"] as? [String: Any] ?? [:] where definition["profiles"] == nil {
            var service: [String: Any] = [:]
            if let labels = definition["labels"] as? [String: Any] {
                service["labels"] = labels.mapValues { "\($0)" }
            } else if let labels = definition["labels"] as? [String] {
                service["labels"] = Dictionary(labels.map { ($0.split(separator: "=", maxSplits: 1).map(String.init) + [""]) }.map { ($0[0], $0[1]) }) { $1 }
            }
            if let deploy = definition["deploy"] { service["deploy"] = deploy }
            services[name] = service
        }
        let config: [String: Any] = ["name": root["name"] ?? (directory as NSString).lastPathComponent, "services": services]
        let json = (try? JSONSerialization.data(withJSONObject: config)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        return CommandOutput(exitCode: 0, standardOutput: json, standardError: "")
    }

    /// Every command but the `compose config` resolutions, which ``resolutions`` lists.
    var commands: [DockerCommand] { recorded.withLock { $0 }.filter { !Self.isResolution($0) } }
    var resolutions: [DockerCommand] { recorded.withLock { $0 }.filter(Self.isResolution) }

    static func isResolution(_ command: DockerCommand) -> Bool { command.arguments.contains("config") }

    func run(_ command: DockerCommand) async throws(CommandRunError) -> CommandOutput {
        recorded.withLock { $0.append(command) }
        if Self.isResolution(command), let config = Self.resolvedConfig(command) { return config }
        return answer(command)
    }
}
