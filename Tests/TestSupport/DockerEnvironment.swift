import Foundation
import Stacks

/// Whether the docker-backed tests can run here, and the CI rule when they cannot.
///
/// Outside CI a machine without docker skips those tests. With `CI=true` they
/// run anyway and fail in ``require()``: a green CI run that tested nothing is a defect.
public enum DockerEnvironment {
    /// The engine and compose versions the tests run against.
    public struct Engine: Sendable, CustomStringConvertible {
        public var engineVersion: String
        public var composeVersion: String
        public var description: String { "docker engine \(engineVersion), compose \(composeVersion)" }
    }

    /// Why docker cannot be used.
    public struct Unavailable: Error, CustomStringConvertible {
        public var reason: String
        public var description: String {
            "docker is not usable (\(reason)); run scripts/setup.sh as root to install and start it"
        }
    }

    public static var isCI: Bool { ProcessInfo.processInfo.environment["CI"] == "true" }

    private static let probe = Task<Result<Engine, Unavailable>, Never> { await runProbe() }

    /// `true` when the docker-backed tests should run: docker answers, or this is CI and they must fail loudly.
    public static func shouldRun() async -> Bool {
        if isCI { return true }
        if case .success = await probe.value { return true }
        return false
    }

    /// The engine, or an error that fails the calling test.
    @discardableResult
    public static func require() async throws -> Engine {
        try await probe.value.get()
    }

    private static func runProbe() async -> Result<Engine, Unavailable> {
        let runner = SubprocessCommandRunner()
        do {
            let engine = try await runner.run(DockerCommand(
                executable: "docker", arguments: ["version", "--format", "{{.Server.Version}}"], timeout: .seconds(60)))
            guard engine.succeeded else {
                return .failure(Unavailable(reason: "docker version: \(engine.standardError.trimmingCharacters(in: .whitespacesAndNewlines))"))
            }
            let compose = try await runner.run(DockerCommand(
                executable: "docker", arguments: ["compose", "version", "--short"], timeout: .seconds(60)))
            guard compose.succeeded else {
                return .failure(Unavailable(reason: "no compose v2 plugin: \(compose.standardError.trimmingCharacters(in: .whitespacesAndNewlines))"))
            }
            return .success(Engine(
                engineVersion: engine.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines),
                composeVersion: compose.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)))
        } catch {
            return .failure(Unavailable(reason: "\(error)"))
        }
    }
}
