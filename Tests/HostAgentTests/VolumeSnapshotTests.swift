import AgentAPI
import Capture
import Foundation
import TestSupport
import Testing
@testable import HostAgent

/// ZFS and LVM thin snapshots through the directory backend, against ``FakeVolumeHost``: the
/// real tools need a ZFS module or device-mapper, which these machines lack.
@Suite("Volume snapshots: ZFS datasets and LVM thin volumes, through a fake of their tools")
struct VolumeSnapshotTests {
    /// A volume root with one guest's data dir in it, a backend that asks `host`, and a job.
    struct Scene {
        let directory: TemporaryDirectory
        let volumeRoot: String
        let dataDirectory: String
        let host: FakeVolumeHost
        let backend: DirectoryBackend

        init(_ flavour: FakeVolumeHost.Flavour, installed: Set<String> = ["zfs", "lvs"], privileged: Bool = true) throws {
            directory = try TemporaryDirectory("volume")
            volumeRoot = directory.path + "/volume"
            dataDirectory = volumeRoot + "/guests/g1"
            try directory.write("volume/guests/g1/app/db", Array("before the stop".utf8))
            host = try FakeVolumeHost(flavour, volumeRoot: volumeRoot, scratch: directory.path, installed: installed, privileged: privileged)
            backend = DirectoryBackend(repository: directory.path + "/repo", stateDirectory: directory.path + "/state", volumeHost: host)
        }

        func job(_ id: String, capture: CaptureSetting = .auto) -> BackupJob {
            BackupJob(backupID: id, guest: "g1", dataDirectory: dataDirectory, startedAt: Date(), capture: capture)
        }

        func write(_ text: String) throws {
            try Data(text.utf8).write(to: URL(fileURLWithPath: dataDirectory + "/app/db"))
        }

        /// Backs up with `capture`, writing "after the restart" the moment the backend reports `snapshotted`,
        /// and returns what the archive holds of `app/db`.
        func backUp(_ id: String, capture: (any PreparedCapture)?) async throws -> String {
            let dataDirectory = dataDirectory
            _ = try await backend.createBackup(job(id), capture: capture) { event in
                if case .snapshotted = event {
                    try? Data("after the restart".utf8).write(to: URL(fileURLWithPath: dataDirectory + "/app/db"))
                }
            }
            let restored = directory.path + "/restored-\(id)"
            _ = try await ArchiveRestorer(layout: backend.layout).restore(guest: "g1", backupID: id, to: restored)
            return try String(contentsOfFile: restored + "/app/db", encoding: .utf8)
        }
    }

    @Test("mountinfo is read with its escapes, and a path is found on the mount of its own device")
    func mountTable() {
        let table = MountTable.parse("""
            22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
            40 22 0:45 / /tank/guests rw shared:20 - zfs tank/guests rw,xattr
            41 22 253:3 /srv /mnt/my\\040data rw master:3 - xfs /dev/mapper/pve-data rw
            garbage line
            """)
        #expect(table.entries.count == 3)
        #expect(table.entries[2].mountPoint == "/mnt/my data")
        let device = UInt64(253) << 8 | 3
        let mount = table.mount(holding: "/mnt/my data/g1", device: device)
        #expect(mount?.source == "/dev/mapper/pve-data")
        #expect(MountTable.pathInFileSystem("/mnt/my data/g1", mount: mount!) == "/srv/g1")
        #expect(table.mount(holding: "/tank/guests/g1", device: UInt64(45))?.source == "tank/guests")
        #expect(table.mount(holding: "/tank/guestsX", device: UInt64(45)) == nil, "a name that only starts like the mount point is not below it")
    }

    @Test("a ZFS dataset is snapshotted in the window, read through .zfs/snapshot, and the snapshot is destroyed")
    func zfs() async throws {
        let scene = try Scene(.zfs(dataset: "tank/guests"))
        let prepared = try await scene.backend.prepareCapture(scene.job("b-1")) { false }
        let capture = try #require(prepared)
        #expect(capture.method == .snapshot && capture.note == nil)
        #expect(scene.host.commands == [
            ["zfs", "snapshot", "tank/guests@felhom-b-1.g1"], ["zfs", "destroy", "tank/guests@felhom-b-1.g1"],
        ], "prepare proves the snapshot works with a trial one, and stops nothing")

        try scene.write("at the stop")
        #expect(try await scene.backUp("b-1", capture: capture) == "at the stop", "the archive is the stopped state, not what the app wrote after")
        try await capture.discard()
        #expect(scene.host.commands.suffix(2) == [["zfs", "snapshot", "tank/guests@felhom-b-1.g1"], ["zfs", "destroy", "tank/guests@felhom-b-1.g1"]])
        #expect(!FileManager.default.fileExists(atPath: scene.volumeRoot + "/.zfs/snapshot/felhom-b-1.g1"))
        try await capture.discard()
    }

    @Test("an LVM thin volume is snapshotted read-only in the window, mounted to be archived, then unmounted and removed")
    func lvmThin() async throws {
        let scene = try Scene(.lvmThin(group: "pve", volume: "data", segmentType: "thin"))
        let capture = try #require(try await scene.backend.prepareCapture(scene.job("b-2")) { false })
        #expect(capture.method == .snapshot)
        try scene.write("at the stop")
        #expect(try await scene.backUp("b-2", capture: capture) == "at the stop")
        try await capture.discard()
        let mountPoint = scene.volumeRoot + "/guests/.felhom-captures/felhom-b-2.g1"
        #expect(scene.host.commands.filter { $0[0] != "lvs" } == [
            ["lvcreate", "--snapshot", "--name", "felhom-b-2.g1", "--setactivationskip", "n", "--permission", "r", "pve/data"],
            ["lvremove", "--yes", "pve/felhom-b-2.g1"],
            ["lvcreate", "--snapshot", "--name", "felhom-b-2.g1", "--setactivationskip", "n", "--permission", "r", "pve/data"],
            ["lvchange", "--activate", "y", "--ignoreactivationskip", "pve/felhom-b-2.g1"],
            ["mount", "-o", "ro,noload", "/dev/pve/felhom-b-2.g1", mountPoint],
            ["umount", mountPoint],
            ["lvremove", "--yes", "pve/felhom-b-2.g1"],
        ])
        #expect(!FileManager.default.fileExists(atPath: mountPoint))
    }

    @Test("without the tools, on a volume that is not thin, or when the trial snapshot fails, auto copies and says why; snapshot refuses")
    func fallBacks() async throws {
        let cases: [(FakeVolumeHost.Flavour, Set<String>, Bool, String?, String)] = [
            (.zfs(dataset: "tank/guests"), [], true, nil, "the zfs command is not installed"),
            (.lvmThin(group: "pve", volume: "data", segmentType: "linear"), ["lvs"], true, nil, "which is linear, not thin"),
            (.lvmThin(group: "pve", volume: "data", segmentType: "thin"), [], true, nil, "the LVM tools (lvs) are not installed"),
            (.zfs(dataset: "tank/guests"), ["zfs"], true, "zfs snapshot", "a trial snapshot of the ZFS dataset tank/guests failed"),
            (.lvmThin(group: "pve", volume: "data", segmentType: "thin"), ["lvs"], false, nil, "the agent lacks CAP_SYS_ADMIN"),
        ]
        for (flavour, installed, privileged, failing, reason) in cases {
            let scene = try Scene(flavour, installed: installed, privileged: privileged)
            if let failing { scene.host.fail(failing) }
            let capture = try #require(try await scene.backend.prepareCapture(scene.job("b-3")) { false })
            #expect(capture.method != .snapshot, "\(reason)")
            #expect(capture.note?.contains(reason) == true, "\(capture.note ?? "no note")")
            try await capture.discard()
            let snapshots = scene.host.commands.filter { $0[0] == "lvcreate" || ($0[0] == "zfs" && $0[1] == "snapshot") }
            if failing == nil {
                #expect(snapshots.isEmpty, "\(reason): nothing is snapshotted where it may not be removed: \(snapshots)")
            } else {
                #expect(snapshots.count == 1, "\(reason): the trial snapshot was tried once")
                let left = (try? FileManager.default.contentsOfDirectory(atPath: scene.volumeRoot + "/.zfs/snapshot")) ?? []
                #expect(left.isEmpty, "\(reason): the failed trial left \(left)")
            }
            await #expect(throws: BackupFailure.self, "\(reason)") {
                _ = try await scene.backend.prepareCapture(scene.job("b-4", capture: .snapshot)) { false }
            }
        }
    }

    @Test("the sweep removes this guest's snapshots that no op holds, and nothing else")
    func sweep() async throws {
        for flavour: FakeVolumeHost.Flavour in [.zfs(dataset: "tank/guests"), .lvmThin(group: "pve", volume: "data", segmentType: "thin")] {
            let scene = try Scene(flavour)
            for id in ["b-old", "b-live"] {
                let capture = try #require(try await scene.backend.prepareCapture(scene.job(id)) { false } as? DirectoryBackend.VolumeCapture)
                try await capture.snapshot.take()
                _ = try await capture.snapshot.readablePath()
            }
            guard case .volume(let volume) = await VolumeSnapshot.detect(dataDirectory: scene.dataDirectory, host: scene.host) else {
                Issue.record("the fake's volume was not detected")
                continue
            }
            let foreign = VolumeSnapshot(
                volume: volume, captureName: "b-x.other", captureRoot: scene.volumeRoot + "/guests/.felhom-captures", host: scene.host)
            try await foreign.take()

            let sweep = await scene.backend.sweepCaptures(guests: ["g1": scene.dataDirectory], keeping: ["b-live"])
            #expect(sweep.failures.isEmpty, "\(sweep.failures)")
            switch flavour {
            case .zfs:
                #expect(sweep.removed == ["tank/guests@felhom-b-old.g1"])
                let left = try FileManager.default.contentsOfDirectory(atPath: scene.volumeRoot + "/.zfs/snapshot").sorted()
                #expect(left == ["felhom-b-live.g1", "felhom-b-x.other"])
            case .lvmThin:
                #expect(sweep.removed == ["pve/felhom-b-old.g1"])
                let left = try FileManager.default.contentsOfDirectory(atPath: scene.host.lvmStore).sorted()
                #expect(left == ["felhom-b-live.g1", "felhom-b-x.other"])
                #expect(!FileManager.default.fileExists(atPath: scene.volumeRoot + "/guests/.felhom-captures/felhom-b-old.g1"), "unmounted and gone")
            }
        }
    }
}
