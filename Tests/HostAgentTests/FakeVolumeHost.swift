import Capture
import Foundation
import Synchronization

/// Answers as `zfs`, `lvs`, `lvcreate`, `lvchange`, `mount`, `umount` and `lvremove` would, on
/// real directories: a snapshot is a copy of the volume's tree made when the command runs. The
/// real tools cannot run on these machines (no ZFS module, no device-mapper); this proves what
/// the agent asks of them, in which order, and that it archives what the snapshot holds.
final class FakeVolumeHost: VolumeHost {
    enum Flavour {
        case zfs(dataset: String)
        case lvmThin(group: String, volume: String, segmentType: String)
    }

    let flavour: Flavour
    /// The directory that plays the volume's mounted root.
    let volumeRoot: String
    /// Where LVM snapshots are kept while they exist.
    let lvmStore: String
    let installed: Set<String>
    private let state = Mutex(State())

    private struct State {
        var commands: [[String]] = []
        var mounted: [String: String] = [:]
        var failing: Set<String> = []
    }

    init(_ flavour: Flavour, volumeRoot: String, scratch: String, installed: Set<String> = ["zfs", "lvs"], privileged: Bool = true) throws {
        self.flavour = flavour
        self.mayAdministerVolumes = privileged
        self.volumeRoot = volumeRoot
        self.lvmStore = scratch + "/lvm-snapshots"
        self.installed = installed
        try FileManager.default.createDirectory(atPath: lvmStore, withIntermediateDirectories: true)
    }

    /// Every command run so far, tool first.
    var commands: [[String]] { state.withLock { $0.commands } }

    /// Makes every later run of `verb` (`"zfs snapshot"`, `"lvcreate"`) fail.
    func fail(_ verb: String) { state.withLock { _ = $0.failing.insert(verb) } }

    func mounts() throws(CaptureError) -> MountTable {
        guard let root = try FileState.of(volumeRoot) else { return MountTable(entries: []) }
        let (major, minor) = MountTable.deviceNumbers(root.device)
        var entries: [MountTable.Entry] = []
        switch flavour {
        case .zfs(let dataset):
            entries.append(.init(major: major, minor: minor, root: "/", mountPoint: volumeRoot, fileSystemType: "zfs", source: dataset))
        case .lvmThin(let group, let volume, _):
            entries.append(.init(major: major, minor: minor, root: "/", mountPoint: volumeRoot, fileSystemType: "ext4", source: "/dev/mapper/\(group)-\(volume)"))
        }
        for (mountPoint, snapshot) in state.withLock({ $0.mounted }) {
            entries.append(.init(major: 253, minor: 9, root: "/", mountPoint: mountPoint, fileSystemType: "ext4", source: "/dev/mapper/\(snapshot)"))
        }
        return MountTable(entries: entries)
    }

    func isInstalled(_ tool: String) -> Bool { installed.contains(tool) }

    let mayAdministerVolumes: Bool

    func run(_ tool: String, _ arguments: [String]) async throws(VolumeCommandError) -> String {
        let argv = [tool] + arguments
        let failing = state.withLock { state in
            state.commands.append(argv)
            return state.failing.contains(tool) || state.failing.contains("\(tool) \(arguments.first ?? "")")
        }
        if failing { throw VolumeCommandError(argv: argv, status: "exit 1", standardError: "injected failure") }
        do {
            return try answer(tool, arguments)
        } catch let error as VolumeCommandError {
            throw error
        } catch {
            throw VolumeCommandError(argv: argv, status: "exit 1", standardError: "\(error)")
        }
    }

    private func answer(_ tool: String, _ arguments: [String]) throws -> String {
        let manager = FileManager.default
        switch (tool, arguments.first) {
        case ("zfs", "snapshot"):
            let name = String(arguments[1].split(separator: "@")[1])
            try copyVolume(to: "\(volumeRoot)/.zfs/snapshot/\(name)")
            return ""
        case ("zfs", "destroy"):
            let path = "\(volumeRoot)/.zfs/snapshot/\(arguments[1].split(separator: "@")[1])"
            guard manager.fileExists(atPath: path) else {
                throw VolumeCommandError(argv: [tool] + arguments, status: "exit 1", standardError: "could not find any snapshots to destroy; check snapshot names.")
            }
            try manager.removeItem(atPath: path)
            return ""
        case ("zfs", "list"):
            guard case .zfs(let dataset) = flavour else { return "" }
            let names = (try? manager.contentsOfDirectory(atPath: "\(volumeRoot)/.zfs/snapshot")) ?? []
            return names.sorted().map { "\(dataset)@\($0)\n" }.joined()
        case ("lvs", "--noheadings") where arguments.contains("vg_name,lv_name,segtype,lv_kernel_major,lv_kernel_minor"):
            guard case .lvmThin(let group, let volume, let segmentType) = flavour,
                  let entry = try mounts().entries.first else { return "" }
            return "  \(group)|\(volume)|\(segmentType)|\(entry.major)|\(entry.minor)\n  \(group)|pool|thin-pool||\n"
        case ("lvs", "--noheadings"):
            guard case .lvmThin(_, let volume, _) = flavour else { return "" }
            let names = (try? manager.contentsOfDirectory(atPath: lvmStore)) ?? []
            return (["pool", volume] + names.sorted()).map { "  \($0)\n" }.joined()
        case ("lvcreate", _):
            let name = arguments[arguments.firstIndex(of: "--name")! + 1]
            try copyVolume(to: "\(lvmStore)/\(name)")
            return ""
        case ("lvchange", _):
            return ""
        case ("mount", _):
            let device = arguments[arguments.count - 2], mountPoint = arguments[arguments.count - 1]
            let name = String(device.split(separator: "/").last!)
            for item in try manager.contentsOfDirectory(atPath: "\(lvmStore)/\(name)") {
                try manager.copyItem(atPath: "\(lvmStore)/\(name)/\(item)", toPath: "\(mountPoint)/\(item)")
            }
            state.withLock { $0.mounted[mountPoint] = name }
            return ""
        case ("umount", _):
            for item in try manager.contentsOfDirectory(atPath: arguments[0]) {
                try manager.removeItem(atPath: "\(arguments[0])/\(item)")
            }
            state.withLock { $0.mounted[arguments[0]] = nil }
            return ""
        case ("lvremove", _):
            let name = String(arguments[1].split(separator: "/")[1])
            guard manager.fileExists(atPath: "\(lvmStore)/\(name)") else {
                throw VolumeCommandError(argv: [tool] + arguments, status: "exit 5", standardError: "Failed to find logical volume \"\(arguments[1])\"")
            }
            try manager.removeItem(atPath: "\(lvmStore)/\(name)")
            return ""
        default:
            throw VolumeCommandError(argv: [tool] + arguments, status: "exit 127", standardError: "the fake does not know this command")
        }
    }

    /// The volume's tree as it is now, `.zfs` and the capture folder left out as the real snapshot would show them.
    private func copyVolume(to destination: String) throws {
        let manager = FileManager.default
        try manager.createDirectory(atPath: destination, withIntermediateDirectories: true)
        for item in try manager.contentsOfDirectory(atPath: volumeRoot) where item != ".zfs" {
            try manager.copyItem(atPath: "\(volumeRoot)/\(item)", toPath: "\(destination)/\(item)")
        }
    }
}
