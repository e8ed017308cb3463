import Stacks
import Testing

@Suite("The stacks dir must be the same path on the host when the controller runs in a container")
struct StacksMountCheckTests {
    static let id = String(repeating: "ab12", count: 16)
    /// Lines as a container's /proc/self/mountinfo has them: the overlay root, then docker's per-container files.
    static let containerMountInfo = """
        512 480 0:51 / / rw,relatime master:1 - overlay overlay rw,lowerdir=/var/lib/docker/overlay2/l/X
        530 512 8:1 /var/lib/docker/containers/\(id)/resolv.conf /etc/resolv.conf rw,relatime - ext4 /dev/sda1 rw
        531 512 8:1 /var/lib/docker/containers/\(id)/hostname /etc/hostname rw,relatime - ext4 /dev/sda1 rw
        """

    static func check(stacksDir: String, mounts: String, mountInfo: String? = containerMountInfo, inspectExit: Int32 = 0) -> (StacksMountCheck, RecordingRunner) {
        let runner = RecordingRunner { command in
            command.arguments.first == "inspect"
                ? CommandOutput(exitCode: inspectExit, standardOutput: inspectExit == 0 ? #"[{"Id":"\#(id)","Mounts":\#(mounts)}]"# : "",
                                standardError: inspectExit == 0 ? "" : "Cannot connect to the Docker daemon")
                : CommandOutput(exitCode: 1, standardOutput: "", standardError: "unexpected")
        }
        let configuration = StacksConfiguration(stacksDirectory: stacksDir, protectedStacks: [], docker: DockerSettings(), lockDirectory: "/tmp/locks")
        return (StacksMountCheck(configuration: configuration, runner: runner, mountInfo: { mountInfo }), runner)
    }

    @Test("on the host itself nothing is asked of docker")
    func notInContainer() async throws {
        let (check, runner) = Self.check(stacksDir: "/opt/stacks", mounts: "[]",
                                         mountInfo: "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n")
        #expect(try await check.verify() == .notInContainer)
        #expect(runner.commands.isEmpty)
    }

    @Test("the same path on both sides passes, and the container is found from its mounts")
    func samePath() async throws {
        let mounts = #"[{"Type":"bind","Source":"/var/run/docker.sock","Destination":"/var/run/docker.sock"},{"Type":"bind","Source":"/opt/stacks","Destination":"/opt/stacks"}]"#
        let (check, runner) = Self.check(stacksDir: "/opt/stacks/", mounts: mounts)
        #expect(try await check.verify() == .samePath(containerID: Self.id))
        #expect(runner.commands.map(\.arguments) == [["inspect", "--type", "container", Self.id]])
    }

    @Test("a parent mounted at the same path holds the stacks dir at the same path too")
    func parentMount() async throws {
        let mounts = #"[{"Type":"bind","Source":"/srv","Destination":"/srv"}]"#
        #expect(try await Self.check(stacksDir: "/srv/felhom/stacks", mounts: mounts).0.verify() == .samePath(containerID: Self.id))
    }

    @Test("another path on the host is refused, naming both")
    func differentPath() async throws {
        let mounts = #"[{"Type":"bind","Source":"/srv","Destination":"/data"},{"Type":"bind","Source":"/home/stacks","Destination":"/data/stacks"}]"#
        let error = await #expect(throws: StacksMountError.self) { try await Self.check(stacksDir: "/data/stacks", mounts: mounts).0.verify() }
        #expect(error == .differentHostPath(inside: "/data/stacks", onHost: "/home/stacks"))
        #expect(error.map { "\($0)" }?.contains("/data/stacks is mounted from /home/stacks") == true)
    }

    @Test("a stacks dir in the container's own file system, or on a named volume, is refused")
    func notMountedOrVolume() async throws {
        let none = await #expect(throws: StacksMountError.self) {
            try await Self.check(stacksDir: "/opt/stacks", mounts: #"[{"Type":"bind","Source":"/etc/felhom","Destination":"/etc/felhom"}]"#).0.verify()
        }
        #expect(none == .notMounted(stacksDirectory: "/opt/stacks"))
        let volume = #"[{"Type":"volume","Name":"stacks","Source":"/var/lib/docker/volumes/stacks/_data","Destination":"/opt/stacks"}]"#
        let onVolume = await #expect(throws: StacksMountError.self) { try await Self.check(stacksDir: "/opt/stacks", mounts: volume).0.verify() }
        #expect(onVolume == .differentHostPath(inside: "/opt/stacks", onHost: "/var/lib/docker/volumes/stacks/_data"))
    }

    @Test("when docker cannot be asked, the check fails and says what to mount")
    func cannotInspect() async throws {
        let error = await #expect(throws: StacksMountError.self) {
            try await Self.check(stacksDir: "/opt/stacks", mounts: "[]", inspectExit: 1).0.verify()
        }
        #expect(error.map { "\($0)" }?.contains("Mount the docker socket") == true)
    }

    @Test("paths are compared by their text, with dots and extra slashes gone")
    func normalizedByText() async throws {
        let mounts = #"[{"Type":"bind","Source":"/srv/./stacks/","Destination":"/opt/x/../stacks"}]"#
        let error = await #expect(throws: StacksMountError.self) { try await Self.check(stacksDir: "/opt/stacks", mounts: mounts).0.verify() }
        #expect(error == .differentHostPath(inside: "/opt/stacks", onHost: "/srv/stacks"))
    }
}
