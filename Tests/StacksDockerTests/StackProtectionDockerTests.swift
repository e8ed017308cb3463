import DockerTesting
import Foundation
import Stacks
import TestSupport
import Testing

/// One protection decision everywhere: a label our own reading of the file misses, but compose
/// resolved onto the containers, protects the stack from `stop|restart|down` as it does in `stacks list`.
@Suite("Stack protection on the real engine (needs docker)", .needsDocker)
struct StackProtectionDockerTests {
    static let service = """
        image: felhom/busybox:test
        command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done"]
        """

    /// A stack whose label comes through `extends`, and one whose label comes from interpolation.
    static func writeStacks(_ fx: FixtureStacks) throws {
        let extends = fx.directory("pcext")
        try FileManager.default.createDirectory(atPath: extends, withIntermediateDirectories: true)
        try """
            services:
              base:
                \(service.replacingOccurrences(of: "\n", with: "\n    "))
                labels: { eu.felhom.protected: "true" }
            """.write(toFile: extends + "/base.yaml", atomically: true, encoding: .utf8)
        try """
            services:
              proxy:
                extends: { file: base.yaml, service: base }
            """.write(toFile: extends + "/compose.yaml", atomically: true, encoding: .utf8)

        let interpolated = fx.directory("pcenv")
        try FileManager.default.createDirectory(atPath: interpolated, withIntermediateDirectories: true)
        try """
            services:
              tunnel:
                \(service.replacingOccurrences(of: "\n", with: "\n    "))
                labels: { eu.felhom.protected: "${PROTECT:-true}" }
            """.write(toFile: interpolated + "/compose.yaml", atomically: true, encoding: .utf8)
    }

    @Test("a label from extends or interpolation, on the deployed containers, refuses stop, restart and down and keeps the stack out of a quiesce")
    func containersDecideToo() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            try Self.writeStacks(fx)
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            let catalog = StackCatalog(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            for stack in ["pcext", "pcenv", "webapp"] { try await operations.perform(.up, on: fx.name(stack)) }

            for stack in ["pcext", "pcenv"] {
                let name = fx.name(stack)
                #expect(try await catalog.info(name).protected, "\(stack): stacks list")
                for operation in [StackOperation.stop, .restart, .down] {
                    await #expect { try await operations.perform(operation, on: name) } throws: {
                        ($0 as? StackError)?.code == .protected
                    }
                }
                #expect(try await catalog.info(name).status == .running, "\(stack) was taken down")
            }
            let selected = try await catalog.runningAppStacks().map(\.rawValue)
            #expect(selected.contains(fx.name("webapp")) && !selected.contains(fx.name("pcext")) && !selected.contains(fx.name("pcenv")), "\(selected)")
            try await operations.perform(.down, on: fx.name("pcext"), force: true)
        }
    }

    @Test("a service with replicas: 0, or in a profile nobody asked for, does not make a running stack partial")
    func replicasZeroIsNotPartial() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let directory = fx.directory("spare")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let body = Self.service.replacingOccurrences(of: "\n", with: "\n    ")
            try """
                services:
                  app:
                    \(body)
                  spare:
                    \(body)
                    deploy: { replicas: 0 }
                  debug:
                    \(body)
                    profiles: [debug]
                """.write(toFile: directory + "/compose.yaml", atomically: true, encoding: .utf8)
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            let catalog = StackCatalog(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            try await operations.perform(.up, on: fx.name("spare"))
            #expect(try await catalog.info(fx.name("spare")).status == .running)
        }
    }

    @Test("a compose file that cannot be read counts as protected: listed with its problem, never stopped, never quiesced")
    func unreadableIsProtected() async throws {
        try await withFixtureStacks(["webapp"]) { fx in
            let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            let catalog = StackCatalog(configuration: fx.configuration(), runner: SubprocessCommandRunner())
            try await operations.perform(.up, on: fx.name("webapp"))
            try "services: [this is not a mapping\n".write(toFile: fx.directory("webapp") + "/compose.yaml", atomically: true, encoding: .utf8)
            let info = try await catalog.info(fx.name("webapp"))
            #expect(info.protected && info.problem?.contains("treated as protected") == true, "\(info)")
            #expect(try await catalog.runningAppStacks().isEmpty)
            await #expect { try await operations.perform(.stop, on: fx.name("webapp")) } throws: {
                ($0 as? StackError)?.code == .malformedComposeFile
            }
            #expect(try await catalog.info(fx.name("webapp")).status == .running)
        }
    }
}
