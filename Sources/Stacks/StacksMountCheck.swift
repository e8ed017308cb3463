import Foundation

/// Checks, when the controller runs in a container, that its stacks dir is the same path on the docker host.
///
/// Compose resolves a stack's relative bind mounts (`./data`) in the client, so
/// the daemon is handed the controller's own view of the path. If the stacks dir
/// is mounted from another host path, or not mounted at all, every stack the
/// controller starts would get an empty data dir on the host instead of its own.
/// The check reads the container's mounts from `docker inspect` of itself.
public struct StacksMountCheck: Sendable {
    /// What the check found when it did not refuse.
    public enum Verdict: Sendable, Equatable {
        /// No docker container id in this process's mounts: the controller runs on the host itself.
        case notInContainer
        /// The stacks dir inside is the same path on the host, through this container's mount.
        case samePath(containerID: String)
    }

    let stacksDirectory: String
    let runner: any CommandRunner
    let commands: DockerCommands
    /// The text of `/proc/self/mountinfo`; a seam for tests.
    let mountInfo: @Sendable () -> String?

    public init(configuration: StacksConfiguration, runner: any CommandRunner,
                mountInfo: @escaping @Sendable () -> String? = { try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) }) {
        stacksDirectory = configuration.stacksDirectory
        self.runner = runner
        commands = DockerCommands(settings: configuration.docker)
        self.mountInfo = mountInfo
    }

    /// - Throws: ``StacksMountError`` when the stacks dir is not the same path on the host, or the check cannot be made.
    public func verify() async throws(StacksMountError) -> Verdict {
        guard let containerID = mountInfo().flatMap(Self.containerID(inMountInfo:)) else { return .notInContainer }
        let output: CommandOutput
        do {
            output = try await runner.run(commands.inspectContainers([containerID]))
        } catch {
            throw .cannotInspect(containerID: containerID, detail: "\(error)")
        }
        guard output.succeeded else {
            throw .cannotInspect(containerID: containerID, detail: output.standardError.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let mounts: [InspectedMount]
        do {
            mounts = try JSONDecoder().decode([InspectedContainer].self, from: Data(output.standardOutput.utf8)).first?.mounts ?? []
        } catch {
            throw .cannotInspect(containerID: containerID, detail: "its output is not the JSON docker inspect prints: \(error)")
        }
        let inside = Self.normalized(stacksDirectory)
        // The innermost mount that holds the stacks dir decides where it lives on the host.
        let holder = mounts
            .filter { Self.contains(Self.normalized($0.destination), inside) }
            .max { $0.destination.count < $1.destination.count }
        guard let holder else {
            throw .notMounted(stacksDirectory: inside)
        }
        let destination = Self.normalized(holder.destination)
        let hostPath = Self.normalized(holder.source + inside.dropFirst(destination == "/" ? 0 : destination.count))
        guard hostPath == inside else {
            throw .differentHostPath(inside: inside, onHost: hostPath)
        }
        return .samePath(containerID: containerID)
    }

    /// Docker bind-mounts each container's `hostname`, `hosts` and `resolv.conf` from
    /// `…/containers/<id>/`, so the id shows in the mount table whatever the cgroup layout.
    static func containerID(inMountInfo text: String) -> String? {
        for line in text.split(separator: "\n") {
            // Field 4 is the mount's root within its file system.
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count > 4 else { continue }
            let root = fields[3].split(separator: "/")
            for (index, part) in root.enumerated() where part == "containers" && index + 1 < root.count {
                let candidate = String(root[index + 1])
                if candidate.count == 64, DockerCommands.isContainerID(candidate) { return candidate }
            }
        }
        return nil
    }

    /// By text alone: Foundation's `standardizingPath` also resolves symlinks, and a host path
    /// must not be resolved against the container's file system.
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { _ = parts.popLast() } else { parts.append(part) }
        }
        return "/" + parts.joined(separator: "/")
    }

    static func contains(_ directory: String, _ path: String) -> Bool {
        directory == "/" || path == directory || path.hasPrefix(directory + "/")
    }
}

/// Why the controller refuses to manage stacks from its container.
public enum StacksMountError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The stacks dir is a mount from another path on the host.
    case differentHostPath(inside: String, onHost: String)
    /// No bind mount or volume holds the stacks dir: it is the container's own file system.
    case notMounted(stacksDirectory: String)
    /// `docker inspect` of this container failed.
    case cannotInspect(containerID: String, detail: String)

    public var description: String {
        switch self {
        case .differentHostPath(let inside, let onHost):
            "stacks_dir \(inside) is mounted from \(onHost) on the host. Compose resolves ./data bind mounts on the host, "
                + "so every stack would get the wrong data. Mount the stacks dir at the same path on both sides "
                + "(- \(onHost):\(onHost)) and set stacks_dir to \(onHost)"
        case .notMounted(let stacksDirectory):
            "stacks_dir \(stacksDirectory) is not mounted from the host into this container, so compose would hand "
                + "the daemon paths that hold no stack data. Mount it at the same path on both sides (- \(stacksDirectory):\(stacksDirectory))"
        case .cannotInspect(let containerID, let detail):
            "cannot check where stacks_dir is on the host: docker inspect of this container (\(containerID.prefix(12))) failed: \(detail). "
                + Self.advice(detail)
        }
    }
}

extension StacksMountError {
    static func advice(_ detail: String) -> String {
        if detail.localizedCaseInsensitiveContains("permission denied") {
            return "The socket is mounted but not usable: set DOCKER_GID to its group (stat -c %g /var/run/docker.sock)"
        }
        if detail.localizedCaseInsensitiveContains("no such object") || detail.localizedCaseInsensitiveContains("no such container") {
            return "The engine behind the socket does not run this container; mount the socket of the engine that does"
        }
        return "Mount the docker socket into the container (- /var/run/docker.sock:/var/run/docker.sock)"
    }
}

private struct InspectedContainer: Decodable {
    var mounts: [InspectedMount]?
    enum CodingKeys: String, CodingKey { case mounts = "Mounts" }
}

private struct InspectedMount: Decodable {
    var source: String
    var destination: String
    enum CodingKeys: String, CodingKey { case source = "Source", destination = "Destination" }
}
