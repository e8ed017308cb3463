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

    func configuration(protected: Set<String> = []) -> StacksConfiguration {
        StacksConfiguration(stacksDirectory: path, protectedStacks: protected, lockDirectory: path + "/.locks")
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}
