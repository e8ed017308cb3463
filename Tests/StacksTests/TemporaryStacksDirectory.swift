import Foundation
import Stacks

/// A throwaway `stacks_dir` with compose files written by the test.
struct TemporaryStacksDirectory {
    let path: String

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("felhom-unit-\(UInt64.random(in: 0...UInt64.max))").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `compose` as `directory/fileName`, creating the directory.
    func addStack(_ directory: String, compose: String = "services:\n  app:\n    image: felhom/busybox:test\n", fileName: String = "compose.yaml") throws {
        let stackPath = path + "/" + directory
        try FileManager.default.createDirectory(atPath: stackPath, withIntermediateDirectories: true)
        try compose.write(toFile: stackPath + "/" + fileName, atomically: true, encoding: .utf8)
    }

    /// Where the configuration keeps compose's resolutions: beside the stacks, not among them.
    var cachePath: String { path + ".state/compose-cache.json" }

    func configuration(protected: Set<String> = [], docker: DockerSettings = DockerSettings()) -> StacksConfiguration {
        StacksConfiguration(
            stacksDirectory: path, protectedStacks: protected, docker: docker, lockDirectory: path + "/.locks", resolutionCache: cachePath)
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
        try? FileManager.default.removeItem(atPath: path + ".state")
    }
}
