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
        .executable(name: "felhom-agent", targets: ["Agent"]),
    ],
    dependencies: [
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        // SHA-256 (token digests, manifests, the SPKI pin) and the agent's P-256 key.
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        // The agent's self-signed leaf certificate.
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        // Already under Hummingbird; named so the agent can import their types directly.
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // Already under Hummingbird; named for the HTTP part types a connection handler reads.
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // The controller executable: CLI commands and the composition root.
        .executableTarget(
            name: "Controller",
            dependencies: [
                "Stacks",
                "Quiesce",
                "CustomerAPI",
                "AgentAPI",
                "ConfigFile",
                "CommandLineSupport",
                "DurableFiles",
                "HTTPServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                // `health`: the image's HEALTHCHECK asks /healthz over a plain TCP connection.
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // Strict reading of YAML config files, shared by both executables.
        .target(
            name: "ConfigFile",
            dependencies: [.product(name: "Yams", package: "Yams")],
            swiftSettings: strictSettings
        ),
        // What both executables' command lines share: one-line failures, exit codes, tables, JSON, bind failures.
        .target(
            name: "CommandLineSupport",
            dependencies: [
                "ConfigFile",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // What both HTTP servers share: connection limits and deadlines, the descriptor budget, 405 and 415.
        .target(
            name: "HTTPServing",
            dependencies: [
                "ConfigFile",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            ],
            swiftSettings: strictSettings
        ),
        // Crash-safe file writes: temp file, fsync, rename, fsync of the directory.
        .target(
            name: "DurableFiles",
            swiftSettings: strictSettings
        ),
        // The quiesce loop: marker, stop, back up, restart, recover.
        .target(
            name: "Quiesce",
            dependencies: [
                "Stacks", "AgentAPI", "DurableFiles",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The customer's local HTTP API.
        .target(
            name: "CustomerAPI",
            dependencies: [
                "Stacks", "Quiesce", "AgentAPI", "HTTPServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Point-in-time copies of a data dir: a full pass while the apps run, a delta pass while they are stopped.
        .target(
            name: "Capture",
            dependencies: ["CFileSystem"],
            swiftSettings: strictSettings
        ),
        // The xattr calls, the SEEK_DATA/SEEK_HOLE/UTIME_OMIT constants and the btrfs snapshot ioctls that Swift's Glibc module lacks.
        .target(name: "CFileSystem"),
        // Compose stacks: discovery, status, and operations through the docker CLI.
        .target(
            name: "Stacks",
            dependencies: [
                "DurableFiles",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
            ],
            swiftSettings: strictSettings
        ),
        // The agent's wire contract and the controller's pinned client, compiled by both sides.
        .target(
            name: "AgentAPI",
            dependencies: ["CurlHTTP"],
            swiftSettings: strictSettings
        ),
        // One HTTPS request through libcurl, trusting a pinned key or a CA file: for the agent client and the Proxmox API.
        .target(
            name: "CurlHTTP",
            dependencies: ["CCurl"],
            swiftSettings: strictSettings
        ),
        // libcurl, for leaf pinning with CURLOPT_PINNEDPUBLICKEY.
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        // The host agent executable: CLI commands and the composition root.
        .executableTarget(
            name: "Agent",
            dependencies: [
                "AgentAPI",
                "Capture",
                "HostAgent",
                "ConfigFile",
                "CommandLineSupport",
                "DurableFiles",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The host agent: op journal, guests and tokens, the directory backend, the HTTPS API.
        .target(
            name: "HostAgent",
            dependencies: [
                "AgentAPI",
                "Capture",
                // The process runner with a timeout and a group kill, for the volume managers' commands.
                "Stacks",
                // The Proxmox API over HTTPS, trusting a pinned key or the cluster's CA.
                "CurlHTTP",
                "ConfigFile",
                "DurableFiles",
                "HTTPServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            swiftSettings: strictSettings
        ),
        // Prints figures; never asserts on time. See docs/benchmarks.md.
        .executableTarget(
            name: "CaptureBenchmark",
            dependencies: ["Capture"],
            path: "Benchmarks/CaptureBenchmark",
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "StacksBenchmark",
            dependencies: ["Stacks", "TestSupport"],
            path: "Benchmarks/StacksBenchmark",
            swiftSettings: strictSettings
        ),
        // Shared by the tests and the benchmarks: fixture stacks in throwaway
        // directories, the CI rule that a missing engine is a failure, and a
        // real felhom-agent process to talk to.
        .target(
            name: "TestSupport",
            dependencies: ["Stacks", "AgentAPI", .product(name: "Yams", package: "Yams")],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        // The `.needsDocker` and `.heavy` traits: the CI rule, and the cap on heavy tests running at once.
        .target(
            name: "DockerTesting",
            dependencies: ["TestSupport"],
            path: "Tests/DockerTesting",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HTTPServingTests",
            dependencies: [
                "ConfigFile", "HTTPServing",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CaptureTests",
            dependencies: ["Capture", "CFileSystem", "Stacks", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StacksTests",
            dependencies: ["Stacks", "TestSupport", .product(name: "Yams", package: "Yams")],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AgentAPITests",
            dependencies: ["AgentAPI"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "HostAgentTests",
            dependencies: [
                "HostAgent", "AgentAPI", "ConfigFile", "DurableFiles", "TestSupport",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Runs the built felhom-agent over real HTTPS on loopback.
        .testTarget(
            name: "AgentIntegrationTests",
            dependencies: ["AgentAPI", "DockerTesting", "HostAgent", "Stacks", "TestSupport"],
            // The state of an earlier release, opened by path by SchemaUpgradeTests.
            exclude: ["Fixtures"],
            swiftSettings: strictSettings
        ),
        // Both OpenAPI documents, validated with openapi-spec-validator and the golden examples.
        .testTarget(
            name: "OpenAPITests",
            dependencies: ["Stacks"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "QuiesceTests",
            dependencies: [
                "Quiesce", "AgentAPI", "Stacks", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // The quiesce loop through the built binaries, on the real engine.
        .testTarget(
            name: "QuiesceDockerTests",
            dependencies: [
                "AgentAPI", "DockerTesting", "HostAgent", "ProxmoxFake", "Quiesce", "Stacks", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StacksDockerTests",
            dependencies: ["DockerTesting", "Stacks", "TestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ControllerCLIDockerTests",
            dependencies: ["AgentAPI", "DockerTesting", "Stacks", "TestSupport"],
            swiftSettings: strictSettings
        ),
        // A contract fake of the Proxmox VE API over real HTTPS, with a fake `pct`, for the agent's Proxmox backend tests.
        .target(
            name: "ProxmoxFake",
            dependencies: [
                "HostAgent", "Stacks",
                // For ProxmoxScene, which runs a real felhom-agent against the fake.
                "AgentAPI", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                // Reason phrases: a handler below Hummingbird's HTTP/1 codec.
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/ProxmoxFake",
            swiftSettings: strictSettings
        ),
        // The fake's contract, through the curl CLI over HTTPS; no docker needed.
        .testTarget(
            name: "ProxmoxFakeTests",
            dependencies: ["ProxmoxFake", "Stacks", "TestSupport"],
            path: "Tests/ProxmoxFakeTests",
            swiftSettings: strictSettings
        ),
        // The agent's Proxmox backend through the real agent, against the fake: backups, faults, rollbacks, restore tests.
        .testTarget(
            name: "ProxmoxBackendTests",
            dependencies: ["AgentAPI", "DockerTesting", "ProxmoxFake", "Stacks", "TestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
