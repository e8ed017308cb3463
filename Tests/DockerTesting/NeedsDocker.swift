import Testing
import TestSupport

/// The trait every docker-backed suite carries: run when docker answers (and
/// always under `CI=true`, so a missing engine fails the test instead of
/// skipping it), and never more than ``DockerTestSlots`` such tests at once.
public struct NeedsDocker: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    private static let condition: ConditionTrait = .enabled("needs a docker engine (run scripts/setup.sh)") {
        await DockerEnvironment.shouldRun()
    }

    public func prepare(for test: Test) async throws {
        try await Self.condition.prepare(for: test)
    }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await DockerTestSlots.shared.scope(testCase: testCase, function)
    }
}

/// For a suite that needs no docker but loads the machine as much as one that
/// does (gigabytes through tar and zstd): its tests wait for the same slots.
public struct Heavy: TestTrait, SuiteTrait, TestScoping {
    public var isRecursive: Bool { true }

    public func provideScope(
        for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void
    ) async throws {
        try await DockerTestSlots.shared.scope(testCase: testCase, function)
    }
}

extension DockerTestSlots {
    /// A suite's own scope wraps all its tests; only each test case takes a slot.
    func scope(testCase: Test.Case?, _ function: @Sendable () async throws -> Void) async throws {
        guard testCase != nil else { return try await function() }
        try await withSlot { try await function() }
    }
}

extension Trait where Self == NeedsDocker {
    /// Runs the test against the real engine, in one of a few slots; see ``NeedsDocker``.
    public static var needsDocker: Self { NeedsDocker() }
}

extension Trait where Self == Heavy {
    /// Runs the test in one of the slots the docker tests share; see ``Heavy``.
    public static var heavy: Self { Heavy() }
}
