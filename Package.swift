// swift-tools-version: 6.2
import PackageDescription

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "felhom",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "felhom-controller", targets: ["Controller"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
    ],
    targets: [
        // The controller executable: CLI commands and the composition root.
        .executableTarget(
            name: "Controller",
            dependencies: [
                "Stacks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // Compose stacks: discovery, status, and operations through the docker CLI.
        .target(
            name: "Stacks",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // The agent's wire contract, compiled by both the agent and the controller.
        .target(
            name: "AgentAPI",
            swiftSettings: strictSettings
        ),
        // Prints figures; never asserts on time. See docs/benchmarks.md.
        .executableTarget(
            name: "StacksBenchmark",
            dependencies: ["Stacks", "DockerTestSupport"],
            path: "Benchmarks/StacksBenchmark",
            swiftSettings: strictSettings
        ),
        // Shared by the docker-backed tests and the benchmarks: fixture
        // stacks in throwaway directories, and the CI rule that a missing
        // engine is a failure.
        .target(
            name: "DockerTestSupport",
            dependencies: ["Stacks"],
            path: "Tests/DockerTestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StacksTests",
            dependencies: ["Stacks"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AgentAPITests",
            dependencies: ["AgentAPI"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StacksDockerTests",
            dependencies: ["Stacks", "DockerTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ControllerCLIDockerTests",
            dependencies: ["DockerTestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
