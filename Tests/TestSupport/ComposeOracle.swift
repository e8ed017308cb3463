import Foundation
import Stacks
import Yams

/// What compose itself says a stack directory is, read through a path of its own that the
/// controller does not use: `config --format yaml` and `config --services`. The tests compare
/// the controller's view of each stack with this one.
public struct ComposeOracle: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    /// The services a plain `up` runs: compose's `--services`, less those with `replicas: 0`.
    public var services: [String]
    /// The services whose resolved label `eu.felhom.protected` is the string `true`.
    public var protectedServices: [String]

    public var description: String { "\(name) services=\(services) protected=\(protectedServices)" }

    /// Asks compose about `directory`, from inside it, as an operator's `docker compose` would run.
    public static func of(_ directory: String) async throws -> ComposeOracle {
        let runner = SubprocessCommandRunner()
        func compose(_ arguments: [String]) async throws -> String {
            let output = try await runner.run(DockerCommand(
                executable: "docker", arguments: ["compose"] + arguments, workingDirectory: directory, timeout: .seconds(120)))
            guard output.succeeded else { throw HarnessError("docker compose \(arguments) in \(directory): \(output.standardError)") }
            return output.standardOutput
        }
        let yaml = try await compose(["config", "--format", "yaml"])
        let listed = try await compose(["config", "--services"]).split(whereSeparator: \.isNewline).map(String.init)
        let root = try (Yams.load(yaml: yaml) as? [String: Any]) ?? [:]
        let definitions = root["services"] as? [String: Any] ?? [:]
        var services: [String] = []
        var protected: [String] = []
        for name in listed {
            let service = definitions[name] as? [String: Any] ?? [:]
            if ((service["deploy"] as? [String: Any])?["replicas"] as? Int) != 0 { services.append(name) }
            if let labels = service["labels"] as? [String: Any], labels[ComposeProject.protectedLabel] as? String == "true" {
                protected.append(name)
            }
        }
        return ComposeOracle(name: root["name"] as? String ?? "", services: services.sorted(), protectedServices: protected.sorted())
    }

    /// The controller's resolution in the same shape.
    public init(_ project: ComposeProject) {
        self.init(name: project.name, services: project.services, protectedServices: project.protectedServices)
    }

    public init(name: String, services: [String], protectedServices: [String]) {
        self.name = name
        self.services = services
        self.protectedServices = protectedServices
    }
}
