// Status of N deployed stacks: our two-call listing against one
// `docker compose ps` per stack. Prints figures; asserts nothing.
//
//   swift build --product StacksBenchmark && .build/debug/StacksBenchmark [stacks] [rounds]
import TestSupport
import Foundation
import Stacks

func milliseconds(_ duration: Duration) -> Double {
    duration / .milliseconds(1)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

let arguments = CommandLine.arguments.dropFirst().compactMap { Int($0) }
let stackCount = arguments.first ?? 50
let rounds = arguments.dropFirst().first ?? 5

let engine = try await DockerEnvironment.require()
print("engine: \(engine); \(stackCount) stacks of the webapp fixture (2 services each), \(rounds) rounds")

let fx = try FixtureStacks.make([])
do {
    let names = (1...stackCount).map { String(format: "app%02d", $0) }
    for name in names { try fx.addCopy(of: "webapp", as: name) }
    let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
    // Deploy four at a time; the engine serialises much of it anyway.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for (index, name) in names.enumerated() {
            if index >= 4 { try await group.next() }
            group.addTask { try await operations.perform(.up, on: fx.name(name)) }
        }
        try await group.waitForAll()
    }

    let runner = CountingRunner()
    let catalog = StackCatalog(configuration: fx.configuration(), runner: runner)
    var oursTimes: [Double] = []
    var oursCalls = 0
    var perStackTimes: [Double] = []
    var perStackCalls = 0
    for _ in 0..<rounds {
        runner.reset()
        let started = ContinuousClock.now
        let stacks = try await catalog.list()
        oursTimes.append(milliseconds(ContinuousClock.now - started))
        oursCalls = runner.calls
        precondition(stacks.filter { $0.name.hasPrefix(fx.prefix) && $0.status == .running }.count == stackCount)

        // The per-stack approach: discovery, then one `docker compose ps` per stack.
        runner.reset()
        let perStackStarted = ContinuousClock.now
        let directories = try StackDirectory.discover(in: fx.stacksDirectory)
        for directory in directories {
            let output = try await runner.run(DockerCommand(
                executable: "docker",
                arguments: ["compose", "--project-name", directory.directoryName, "ps", "--all", "--format", "json"],
                timeout: .seconds(60)))
            precondition(output.succeeded)
        }
        perStackTimes.append(milliseconds(ContinuousClock.now - perStackStarted))
        perStackCalls = runner.calls
    }

    let ours = median(oursTimes)
    let perStack = median(perStackTimes)
    print("")
    print("approach                       docker calls   median wall ms   all rounds ms")
    func joined(_ times: [Double]) -> String { times.map { String(format: "%.0f", $0) }.joined(separator: " ") }
    print(String(format: "StackCatalog.list (ps+inspect)  %12d   %14.1f   ", oursCalls, ours) + joined(oursTimes))
    print(String(format: "compose ps per stack            %12d   %14.1f   ", perStackCalls, perStack) + joined(perStackTimes))
    print(String(format: "ratio (per-stack / ours)        %12.1fx  %14.1fx", Double(perStackCalls) / Double(oursCalls), perStack / ours))
} catch {
    print("benchmark failed: \(error)")
}
await fx.tearDown()
