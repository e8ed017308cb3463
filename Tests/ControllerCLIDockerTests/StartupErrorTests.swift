import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Controller startup errors name the path or the address and exit 78 (runs the binary)")
struct StartupErrorTests {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("felhom-startup-\(UInt32.random(in: 0...UInt32.max))").path

    @Test("a state_dir that is a file")
    func stateDirIsFile() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "not a directory".write(toFile: directory + "/a-file", atomically: true, encoding: .utf8)
        let config = try ControllerBinary.writeConfig("stacks_dir: \(directory)\nstate_dir: \(directory)/a-file\n", in: directory)
        let result = try await ControllerBinary.run(["cycles", "--config", config])
        #expect(result.exitCode == 78)
        #expect(result.stderr.contains("state_dir \(directory)/a-file cannot be used") && result.stderr.contains("Not a directory"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
    }

    @Test("a customer API port another process holds")
    func busyPort() async throws {
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let holder = try LoopbackListener()
        defer { holder.close() }
        let port = holder.port
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try "api-token".write(toFile: directory + "/api-token", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: directory + "/api-token")
        let config = try ControllerBinary.writeConfig("""
            stacks_dir: \(directory)
            state_dir: \(directory)/state
            api: { listen: 127.0.0.1:\(port), token_file: \(directory)/api-token }
            """, in: directory)
        let result = try await ControllerBinary.run(["run", "--config", config])
        #expect(result.exitCode == 78)
        #expect(result.stderr.contains("cannot listen on 127.0.0.1:\(port): the address is already in use"), "\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").filter { $0.hasPrefix("felhom-controller:") }.count == 1, "\(result.stderr)")
    }
}
