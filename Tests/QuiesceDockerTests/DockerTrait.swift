import TestSupport
import Testing

extension Trait where Self == ConditionTrait {
    /// Runs the test when docker answers, and always under `CI=true` so that a missing engine fails it.
    static var needsDocker: Self { .enabled("needs a docker engine (run scripts/setup.sh)") { await DockerEnvironment.shouldRun() } }
}
