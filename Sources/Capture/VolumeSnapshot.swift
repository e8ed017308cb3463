#if canImport(Glibc)
import Glibc
#endif

/// A volume whose volume manager can snapshot it in constant time: a ZFS dataset or an LVM thin volume.
///
/// **Not tested on a real ZFS pool or LVM thin pool**: the machines this is built on have neither a
/// ZFS module nor device-mapper. The unit tests drive it through a ``VolumeHost`` that answers as
/// the tools would; check it on a real host before relying on it (see the README).
public struct Volume: Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The dataset's name, e.g. `tank/guests`, and where its root is mounted (where `.zfs` lives).
        case zfsDataset(name: String, mountPoint: String)
        /// The volume group and the thin logical volume, and the file system on it (ext4, xfs, …).
        case lvmThin(volumeGroup: String, logicalVolume: String, fileSystemType: String)
    }

    public var kind: Kind
    /// The data dir as the volume's file system names it, from its root: `/guests/101`, or `/`.
    public var pathInVolume: String

    public var description: String {
        switch kind {
        case .zfsDataset(let name, _): "the ZFS dataset \(name)"
        case .lvmThin(let group, let volume, _): "the LVM thin volume \(group)/\(volume)"
        }
    }
}

/// What prepare learns of the volume under a data dir.
public enum VolumeDetection: Sendable, Equatable {
    /// A volume whose snapshots the agent can take.
    case volume(Volume)
    /// A ZFS dataset or an LVM volume the agent cannot snapshot; the reason, for the backup's record.
    case unusable(String)
    /// Neither ZFS nor device-mapper: the file-system methods apply.
    case plain
}

/// One snapshot of a ``Volume``, named `felhom-<backup id>.<guest>`: taken in the window, read
/// by the archive, then removed. LVM snapshots are mounted read-only at `mountPoint` to be read.
public struct VolumeSnapshot: Sendable {
    public let volume: Volume
    public let name: String
    /// Where an LVM snapshot is mounted: `<capture folder>/<name>`. Unused for ZFS.
    public let mountPoint: String
    let host: any VolumeHost

    /// Every snapshot and mount of ours starts with this; the sweep touches nothing else.
    public static let prefix = "felhom-"

    /// - Parameters:
    ///   - captureName: `<backup id>.<guest>`, as the directory captures are named.
    ///   - captureRoot: the 0700 capture folder beside the data dir.
    public init(volume: Volume, captureName: String, captureRoot: String, host: any VolumeHost) {
        self.volume = volume
        self.name = Self.prefix + captureName
        self.mountPoint = captureRoot + "/" + Self.prefix + captureName
        self.host = host
    }

    /// Which volume holds `dataDirectory`, and whether its snapshots can be taken here.
    public static func detect(dataDirectory: String, host: any VolumeHost) async -> VolumeDetection {
        guard let state = try? FileState.of(dataDirectory), let mounts = try? host.mounts(),
              let mount = mounts.mount(holding: dataDirectory, device: state.device) else { return .plain }
        let pathInVolume = MountTable.pathInFileSystem(dataDirectory, mount: mount)
        let isZFS = mount.fileSystemType == "zfs"
        let isMapped = mount.source.hasPrefix("/dev/mapper/") || mount.source.hasPrefix("/dev/dm-")
        guard isZFS || isMapped else { return .plain }
        guard host.mayAdministerVolumes else {
            return .unusable("the data dir is on \(isZFS ? "the ZFS dataset" : "the device-mapper device") \(mount.source), and the agent lacks CAP_SYS_ADMIN, which taking and removing its snapshots needs")
        }
        if isZFS {
            let dataset = mount.source
            guard host.isInstalled("zfs") else {
                return .unusable("the data dir is on the ZFS dataset \(dataset), and the zfs command is not installed")
            }
            // Snapshots are read through `.zfs/snapshot` at the dataset's own mount; a bind mount of a subdirectory has none.
            guard let root = mounts.entries.first(where: { $0.fileSystemType == "zfs" && $0.source == dataset && $0.root == "/" }) else {
                return .unusable("the data dir is on the ZFS dataset \(dataset), whose root is not mounted where the agent can read `.zfs/snapshot`")
            }
            return .volume(Volume(kind: .zfsDataset(name: dataset, mountPoint: root.mountPoint), pathInVolume: pathInVolume))
        }
        guard host.isInstalled("lvs") else {
            return .unusable("the data dir is on the device-mapper device \(mount.source), and the LVM tools (lvs) are not installed")
        }
        let listing: String
        do {
            listing = try await host.run("lvs", ["--noheadings", "--separator", "|", "-o", "vg_name,lv_name,segtype,lv_kernel_major,lv_kernel_minor"])
        } catch {
            return .unusable("the data dir is on the device-mapper device \(mount.source), and listing the LVM volumes failed (\(error))")
        }
        for line in listing.split(separator: "\n") {
            let fields = line.split(separator: "|", omittingEmptySubsequences: false).map { String($0).trimmedWhitespace }
            guard fields.count == 5, UInt32(fields[3]) == mount.major, UInt32(fields[4]) == mount.minor else { continue }
            guard fields[2] == "thin" else {
                return .unusable("the data dir is on the LVM volume \(fields[0])/\(fields[1]), which is \(fields[2]), not thin; only a thin volume snapshots without space set aside")
            }
            guard ["ext4", "ext3", "ext2", "xfs"].contains(mount.fileSystemType) else {
                return .unusable("the data dir is on the LVM thin volume \(fields[0])/\(fields[1]) with \(mount.fileSystemType), which the agent does not mount as a snapshot")
            }
            return .volume(Volume(
                kind: .lvmThin(volumeGroup: fields[0], logicalVolume: fields[1], fileSystemType: mount.fileSystemType),
                pathInVolume: pathInVolume))
        }
        return .unusable("the data dir is on the device-mapper device \(mount.source), which is not an LVM volume")
    }

    /// Takes the snapshot; run while the apps are stopped. A thin snapshot suspends the device,
    /// which freezes and flushes the file system, so what the apps wrote is in it.
    public func take() async throws(VolumeCommandError) {
        switch volume.kind {
        case .zfsDataset(let dataset, _):
            _ = try await host.run("zfs", ["snapshot", "\(dataset)@\(name)"])
        case .lvmThin(let group, let logical, _):
            _ = try await host.run("lvcreate", [
                "--snapshot", "--name", name, "--setactivationskip", "n", "--permission", "r", "\(group)/\(logical)",
            ])
        }
    }

    /// Where the data dir's state in the snapshot can be read; an LVM snapshot is activated and
    /// mounted read-only first. Run after ``take()``, once the apps run again.
    public func readablePath() async throws(VolumeCommandError) -> String {
        switch volume.kind {
        case .zfsDataset(_, let datasetMount):
            return join(datasetMount + "/.zfs/snapshot/" + name, volume.pathInVolume)
        case .lvmThin(let group, _, let fileSystem):
            _ = try await host.run("lvchange", ["--activate", "y", "--ignoreactivationskip", "\(group)/\(name)"])
            if mkdir(mountPoint, 0o700) != 0, errno != EEXIST {
                throw VolumeCommandError(argv: ["mkdir", mountPoint], status: "errno \(errno)", standardError: String(cString: strerror(errno)))
            }
            // The origin stays mounted: an XFS copy needs another UUID, and neither may replay a journal on a read-only device.
            let options = fileSystem == "xfs" ? "ro,nouuid,norecovery" : "ro,noload"
            _ = try await host.run("mount", ["-o", options, "/dev/\(group)/\(name)", mountPoint])
            return join(mountPoint, volume.pathInVolume)
        }
    }

    /// Takes the snapshot and removes it again, while nothing is stopped: proof the window's will work.
    public func probe() async throws(VolumeCommandError) {
        try await take()
        try await remove()
    }

    /// Unmounts and deletes the snapshot, whatever state it is in; safe to call more than once.
    public func remove() async throws(VolumeCommandError) {
        switch volume.kind {
        case .zfsDataset(let dataset, _):
            try await Self.destroyZFS("\(dataset)@\(name)", host: host)
        case .lvmThin(let group, _, _):
            try await Self.removeLVM(group: group, name: name, mountPoint: mountPoint, host: host)
        }
    }

    /// Deletes this volume's snapshots of `guest` that are not named in `keeping` (capture names,
    /// `<backup id>.<guest>`). Returns what went, and one line per snapshot that would not.
    public static func sweep(
        _ volume: Volume, guest: String, keeping: Set<String>, captureRoot: String, host: any VolumeHost
    ) async -> (removed: [String], failures: [String]) {
        var removed: [String] = []
        var failures: [String] = []
        let isStale: (String) -> Bool = { name in
            name.hasPrefix(prefix) && name.hasSuffix("." + guest) && !keeping.contains(String(name.dropFirst(prefix.count)))
        }
        switch volume.kind {
        case .zfsDataset(let dataset, _):
            do {
                let listing = try await host.run("zfs", ["list", "-H", "-o", "name", "-t", "snapshot", "-d", "1", dataset])
                for full in listing.split(separator: "\n").map({ String($0).trimmedWhitespace }) {
                    guard full.hasPrefix(dataset + "@"), isStale(String(full.dropFirst(dataset.count + 1))) else { continue }
                    do {
                        try await destroyZFS(full, host: host)
                        removed.append(full)
                    } catch {
                        failures.append("\(error); remove it by hand with `zfs destroy \(full)`")
                    }
                }
            } catch {
                failures.append("\(error); list the leftover snapshots with `zfs list -t snapshot \(dataset)`")
            }
        case .lvmThin(let group, _, _):
            do {
                let listing = try await host.run("lvs", ["--noheadings", "-o", "lv_name", group])
                for name in listing.split(separator: "\n").map({ String($0).trimmedWhitespace }) where isStale(name) {
                    do {
                        try await removeLVM(group: group, name: name, mountPoint: captureRoot + "/" + name, host: host)
                        removed.append("\(group)/\(name)")
                    } catch {
                        failures.append("\(error); remove it by hand with `umount \(captureRoot)/\(name); lvremove \(group)/\(name)`")
                    }
                }
            } catch {
                failures.append("\(error); list the leftover snapshots with `lvs \(group)`")
            }
        }
        return (removed, failures)
    }

    private static func destroyZFS(_ snapshot: String, host: any VolumeHost) async throws(VolumeCommandError) {
        do {
            _ = try await host.run("zfs", ["destroy", snapshot])
        } catch {
            // Already gone is what remove wants.
            if error.standardError.contains("could not find any snapshots") || error.standardError.contains("does not exist") { return }
            throw error
        }
    }

    private static func removeLVM(group: String, name: String, mountPoint: String, host: any VolumeHost) async throws(VolumeCommandError) {
        if let mounts = try? host.mounts(), mounts.entries.contains(where: { $0.mountPoint == mountPoint }) {
            _ = try await host.run("umount", [mountPoint])
        }
        rmdir(mountPoint)
        do {
            _ = try await host.run("lvremove", ["--yes", "\(group)/\(name)"])
        } catch {
            if error.standardError.contains("Failed to find logical volume") { return }
            throw error
        }
    }

    private func join(_ base: String, _ path: String) -> String {
        path == "/" ? base : base + path
    }
}
