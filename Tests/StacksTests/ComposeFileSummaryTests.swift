import Stacks
import Testing

@Suite("Reading compose files")
struct ComposeFileSummaryTests {
    @Test("services are listed; profiled ones and ones with replicas: 0 left out")
    func services() throws {
        let summary = try ComposeFileSummary.parse("""
            services:
              web: { image: x }
              worker: { image: x, deploy: { replicas: 2 } }
              debug: { image: x, profiles: [debug] }
              spare: { image: x, deploy: { replicas: 0 } }
            """, path: "compose.yaml")
        #expect(summary == ComposeFileSummary(services: ["web", "worker"], hasProtectedService: false))
    }

    @Test("the protected label is found as a mapping, a list, or a YAML boolean", arguments: [
        "labels: { eu.felhom.protected: \"true\" }",
        "labels: [\"eu.felhom.protected=true\"]",
        "labels: { eu.felhom.protected: true }",
    ])
    func protectedLabel(_ labels: String) throws {
        let summary = try ComposeFileSummary.parse("services:\n  proxy:\n    image: x\n    \(labels)\n", path: "compose.yaml")
        #expect(summary.hasProtectedService)
    }

    @Test("a label with another value does not protect", arguments: [
        "labels: { eu.felhom.protected: \"false\" }", "labels: [\"eu.felhom.protected=yes\"]", "labels: { other: \"true\" }",
    ])
    func notProtected(_ labels: String) throws {
        let summary = try ComposeFileSummary.parse("services:\n  proxy:\n    image: x\n    \(labels)\n", path: "compose.yaml")
        #expect(!summary.hasProtectedService)
    }

    @Test("malformed YAML fails with an error naming the file")
    func malformed() {
        #expect {
            try ComposeFileSummary.parse("services:\n  app: [unclosed\n", path: "/stacks/broken/compose.yaml")
        } throws: { error in
            "\(error)".hasPrefix("/stacks/broken/compose.yaml: ") && !"\(error)".contains("\n")
        }
    }

    @Test("a file without services is rejected")
    func noServices() {
        #expect(throws: ComposeFileError.self) { try ComposeFileSummary.parse("version: '3'\n", path: "compose.yaml") }
    }
}
