import Foundation
import ProxmoxFake
import Stacks
import TestSupport

/// A started fake in a throwaway directory, with a curl client for it.
struct FakeNode {
    let directory: TemporaryDirectory
    let fake: ProxmoxFake
    let client: CurlClient

    /// Runs `body` against a fresh fake and stops it afterwards, whether `body` threw or not.
    static func with(_ body: (FakeNode) async throws -> Void) async throws {
        let directory = try TemporaryDirectory("proxmox-fake")
        let fake = try ProxmoxFake(directory: directory.path + "/node")
        try await fake.start()
        let node = FakeNode(directory: directory, fake: fake, client: CurlClient(fake: fake, scratch: directory.path))
        do {
            try await body(node)
        } catch {
            await fake.stop()
            throw error
        }
        await fake.stop()
    }

    /// A running guest whose root holds `files` (relative path → contents).
    @discardableResult
    func addGuest(_ vmid: Int, hostname: String, files: [String: [UInt8]], running: Bool = true) throws -> String {
        let rootfs = try fake.addGuest(vmid: vmid, hostname: hostname, running: running)
        for (path, bytes) in files {
            let url = URL(fileURLWithPath: rootfs + "/" + path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }
        return rootfs
    }

    /// Starts a vzdump of `vmid` to the fake's storage and returns the UPID.
    func startBackup(_ vmid: Int, extra: [(String, String)] = []) async throws -> String {
        let answer = try await client.api("POST", "/nodes/pve1/vzdump", [
            ("vmid", String(vmid)), ("mode", "snapshot"), ("storage", "local"), ("compress", "zstd"),
        ] + extra)
        guard answer.status == 200, let upid = answer.string, upid.hasPrefix("UPID:") else {
            throw HarnessError("vzdump did not start: \(answer.status) \(answer.body)")
        }
        return upid
    }

    /// Runs the fake `pct` with an argv array.
    func pct(_ arguments: [String]) async throws -> CommandOutput {
        try await SubprocessCommandRunner().run(DockerCommand(executable: fake.pctPath, arguments: arguments, timeout: .seconds(120)))
    }

    /// Runs a host tool outside the fake's code (tar, to check archives).
    func run(_ executable: String, _ arguments: [String]) async throws -> CommandOutput {
        try await SubprocessCommandRunner().run(DockerCommand(executable: executable, arguments: arguments, timeout: .seconds(120)))
    }
}
