import DockerTesting
import TestSupport
import Testing

@Suite("Docker engine (needs docker)", .needsDocker)
struct EngineTests {
    @Test("the tests run against a real engine with compose v2")
    func reportsEngine() async throws {
        let engine = try await DockerEnvironment.require()
        print("felhom-tests: running against \(engine)")
        #expect(!engine.engineVersion.isEmpty)
        #expect(engine.composeVersion.hasPrefix("2."))
    }
}
