// Status of N stacks: our listing, with compose's resolutions cold (no cache) and warm (every
// stack from the cache), against one `docker compose ps` per stack. Prints figures; asserts nothing.
//
//   swift build --product StacksBenchmark && .build/debug/StacksBenchmark [stacks] [rounds] [deployed]
//
// `deployed` (default: all, at most 200) is how many of the stacks are brought up; each compose
// project needs a bridge network of its own, and the engine's address pools hold 256.
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
let deployedCount = min(arguments.dropFirst(2).first ?? stackCount, stackCount, 200)

let engine = try await DockerEnvironment.require()
print("engine: \(engine); \(stackCount) stacks of the webapp fixture (2 services each), \(deployedCount) deployed, \(rounds) rounds")

let fx = try FixtureStacks.make([])
do {
    let names = (1...stackCount).map { String(format: "app%03d", $0) }
    for name in names { try fx.addCopy(of: "webapp", as: name) }
    let operations = StackOperations(configuration: fx.configuration(), runner: SubprocessCommandRunner())
    // Deploy four at a time; the engine serialises much of it anyway.
    try await withThrowingTaskGroup(of: Void.self) { group in
        for (index, name) in names.prefix(deployedCount).enumerated() {
            if index >= 4 { try await group.next() }
            group.addTask { try await operations.perform(.up, on: fx.name(name)) }
        }
        try await group.waitForAll()
    }

    let runner = CountingRunner()
    let configuration = fx.configuration()
    let catalog = StackCatalog(configuration: configuration, runner: runner)
    var cold: [(ms: Double, calls: Int)] = []
    var warm: [(ms: Double, calls: Int)] = []
    var perStack: [(ms: Double, calls: Int)] = []
    var warmInDocker: [Double] = []
    func timed(_ body: () async throws -> Void) async rethrows -> (ms: Double, calls: Int) {
        runner.reset()
        let started = ContinuousClock.now
        try await body()
        return (milliseconds(ContinuousClock.now - started), runner.calls)
    }
    for _ in 0..<rounds {
        try? FileManager.default.removeItem(atPath: configuration.resolutionCache!)
        cold.append(try await timed {
            let stacks = try await catalog.list()
            precondition(stacks.filter { $0.name.hasPrefix(fx.prefix) && $0.status == .running }.count == deployedCount)
        })
        warm.append(try await timed { _ = try await catalog.list() })
        let inDocker = runner.intervals.reduce(0.0) { $0 + milliseconds($1.start.duration(to: $1.end)) }
        warmInDocker.append(inDocker)
        // The per-stack approach: discovery, then one `docker compose ps` per stack.
        perStack.append(try await timed {
            for directory in try StackDirectory.discover(in: fx.stacksDirectory) {
                let output = try await runner.run(DockerCommand(
                    executable: "docker",
                    arguments: ["compose", "--project-name", directory.directoryName, "ps", "--all", "--format", "json"],
                    timeout: .seconds(60)))
                precondition(output.succeeded)
            }
        })
    }

    print("")
    print("approach                              docker calls   median wall ms   all rounds ms")
    func row(_ label: String, _ runs: [(ms: Double, calls: Int)]) {
        let times = runs.map { String(format: "%.0f", $0.ms) }.joined(separator: " ")
        print(label.padding(toLength: 36, withPad: " ", startingAt: 0) + String(format: "%12d   %14.1f   ", runs.last?.calls ?? 0, median(runs.map(\.ms))) + times)
    }
    row("list, cache cold (config per stack)", cold)
    row("list, cache warm", warm)
    print(String(format: "  of which in docker ps + inspect                   %14.1f   ", median(warmInDocker)) + warmInDocker.map { String(format: "%.0f", $0) }.joined(separator: " "))
    row("compose ps per stack", perStack)
    print(String(format: "ratio per-stack / warm               %11.1fx  %14.1fx",
                 Double(perStack.last?.calls ?? 0) / Double(max(1, warm.last?.calls ?? 1)), median(perStack.map(\.ms)) / median(warm.map(\.ms))))
} catch {
    print("benchmark failed: \(error)")
}
await fx.tearDown()
