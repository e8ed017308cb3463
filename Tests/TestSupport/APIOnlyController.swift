import Foundation

/// `felhom-controller run` with only the customer API: no agent, no quiesce loop, an empty
/// stacks dir. For tests of the HTTP server itself, which need no docker.
public final class APIOnlyController: @unchecked Sendable {
    public let root: TemporaryDirectory
    public let token = "api-" + UUID().uuidString
    public let process: BackgroundProcess
    public let port: Int

    /// `apiYAML` is appended inside the `api:` mapping (indent it by two spaces);
    /// `launcher` runs the controller, e.g. `prlimit … --`, and must exec it.
    public init(apiYAML: String = "", launcher: [String] = []) async throws {
        root = try TemporaryDirectory("felhom-api")
        try FileManager.default.createDirectory(atPath: root.path + "/stacks", withIntermediateDirectories: true)
        try token.write(toFile: root.path + "/api-token", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: root.path + "/api-token")
        try """
        stacks_dir: \(root.path)/stacks
        state_dir: \(root.path)/state
        api:
          listen: 127.0.0.1:0
          token_file: \(root.path)/api-token
        \(apiYAML)
        """.write(toFile: root.path + "/controller.yaml", atomically: true, encoding: .utf8)
        let command = launcher + [ControllerHarness.binary, "run", "--config", root.path + "/controller.yaml"]
        process = try BackgroundProcess(
            executable: command[0], arguments: Array(command.dropFirst()),
            logPath: root.path + "/controller.log", environment: ["FELHOM_LOG_LEVEL": "info"])
        guard await process.waitForLine("customer API listening", timeout: .seconds(120)),
              let line = process.lines(containing: "customer API listening").first,
              let range = line.range(of: "port="), let port = Int(line[range.upperBound...].prefix(while: \.isNumber)) else {
            process.stop()
            throw HarnessError("felhom-controller did not start: \(process.log)")
        }
        self.port = port
    }

    deinit {
        process.stop()
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
}
