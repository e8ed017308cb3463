import AgentAPI
import ConfigFile
import DurableFiles
import Foundation
import TestSupport
import Logging
import Testing
@testable import HostAgent

@Suite("Tokens, config, durable writes and startup recovery")
struct AgentUnitTests {
    @Test("tokens carry 256 random bits and are compared by digest")
    func tokens() {
        let token = GuestToken.generate()
        #expect(token.hasPrefix("fhg_") && token.count == 4 + 43)
        #expect(GuestToken.generate() != token)
        let digest = GuestToken.digest(token)
        #expect(digest.count == 64 && !digest.contains(token))
        #expect(GuestToken.digestsMatch(digest, GuestToken.digest(token)))
        #expect(!GuestToken.digestsMatch(digest, GuestToken.digest(token + "x")))
        #expect(!GuestToken.digestsMatch(digest, String(digest.dropLast())))
    }

    @Test("the config names the key at fault")
    func configErrors() throws {
        let good = "listen: 127.0.0.1:8443\nstate_dir: /s\nrepository: /r\nbackend: directory\nretention: { keep_last: 3 }\n"
        let parsed = try AgentConfiguration.parse(good, path: "a.yaml")
        #expect(parsed == AgentConfiguration(listenHost: "127.0.0.1", listenPort: 8443, stateDirectory: "/s", repository: "/r", retention: Retention(keepLast: 3)))
        let cases: [(String, String)] = [
            (good.replacingOccurrences(of: "keep_last: 3", with: "keep_last: 0"), "retention.keep_last"),
            (good.replacingOccurrences(of: "backend: directory", with: "backend: proxmox"), "proxmox"),
            (good.replacingOccurrences(of: "backend: directory", with: "backend: tape"), "backend"),
            (good.replacingOccurrences(of: "listen: 127.0.0.1:8443", with: "listen: nowhere"), "listen"),
            (good + "colour: blue\n", "colour"),
            (good.replacingOccurrences(of: "state_dir: /s", with: "state_dir: relative"), "state_dir"),
        ]
        for (text, key) in cases {
            #expect { try AgentConfiguration.parse(text, path: "a.yaml") } throws: { ($0 as? ConfigError)?.key == key }
        }
    }

    @Test("an atomic write leaves mode 0600 and no temporary file")
    func atomicWrite() throws {
        let directory = try TemporaryDirectory("durable")
        let path = directory.path + "/marker.json"
        try DurableFile.writeAtomically(Array("one".utf8), to: path, mode: 0o600)
        try DurableFile.writeAtomically(Array("two".utf8), to: path, mode: 0o600)
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "two")
        let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["marker.json"])
    }

    @Test("startup recovery fails interrupted backups and removes their files")
    func recovery() async throws {
        let directory = try TemporaryDirectory("recovery")
        let store = try AgentStore(path: directory.path + "/agent.sqlite")
        try store.addGuest(GuestRecord(name: "g", dataDirectory: "/d", intervalSeconds: 60, tokenSHA256: "t", backupRequestedAt: nil, createdAt: Date()))
        _ = try store.beginBackup(guest: "g", idempotencyKey: "k", request: .init(quiesced: true, stacks: []), backupID: "b-1", now: Date())
        try store.markRunning("b-1", now: Date())
        let backend = DirectoryBackend(repository: directory.path + "/repo", stateDirectory: directory.path)
        let partial = backend.layout.partialArchive(guest: "g", backupID: "b-1")
        let stray = backend.layout.partialArchive(guest: "g", backupID: "b-0")
        try directory.write("repo/g/b-1.tar.zst.partial", [1, 2, 3])
        try directory.write("repo/g/b-0.tar.zst.partial", [4])

        let report = try await StartupRecovery(store: store, backend: backend, logger: .init(label: "test")).run()
        #expect(report.resolvedOps == ["b-1"])
        #expect(report.removedFiles == [stray])
        #expect(!FileManager.default.fileExists(atPath: partial))
        let op = try #require(try store.backup("b-1"))
        #expect(op.op.state == .failed && op.op.error == "agent restarted during backup")
    }

    @Test("startup recovery removes the files of failed and pruned backups, keeps listed ones, adopts a whole unknown one, and leaves the rest in place")
    func unreferencedFiles() async throws {
        let directory = try TemporaryDirectory("recovery")
        let store = try AgentStore(path: directory.path + "/agent.sqlite")
        try store.addGuest(GuestRecord(name: "g", dataDirectory: "/d", intervalSeconds: 60, tokenSHA256: "t", backupRequestedAt: nil, createdAt: Date()))
        let backend = DirectoryBackend(repository: directory.path + "/repo", stateDirectory: directory.path)
        let now = Date()
        for (index, id) in ["b-pruned", "b-kept", "b-failed"].enumerated() {
            _ = try store.beginBackup(guest: "g", idempotencyKey: id, request: .init(quiesced: true, stacks: []), backupID: id, now: now + Double(index))
            let artifact = BackupArtifact(archivePath: backend.layout.archive(guest: "g", backupID: id),
                                          manifestPath: backend.layout.manifest(guest: "g", backupID: id), sizeBytes: 1, dataBytes: 1)
            if id == "b-failed" {
                try store.failOp(id, reason: "the record write failed", now: now)
            } else {
                try store.completeBackup(id, artifact: artifact, now: now + Double(index))
            }
        }
        #expect(try store.pruneBackups(guest: "g", retention: Retention(keepLast: 1), now: now).map(\.backupID) == ["b-pruned"])
        for id in ["b-pruned", "b-kept", "b-failed", "b-unknown"] {
            try directory.write("repo/g/\(id).tar.zst", [1])
            try directory.write("repo/g/\(id).manifest.json", [2])
        }
        // A whole backup an older journal knew: its own manifest says who and what it is.
        let found = BackupManifest(
            backupID: "b-20261101T020000Z-00000001", guest: "g", createdAt: Date(timeIntervalSince1970: 1_790_000_000),
            files: [.init(path: "app/x", size: 5, sha256: String(repeating: "0", count: 64))], directories: ["app"], symlinks: [], archiveBytes: 3)
        try directory.write("repo/g/b-20261101T020000Z-00000001.tar.zst", [1, 2, 3])
        try directory.write("repo/g/b-20261101T020000Z-00000001.manifest.json", try found.encoded())

        let report = try await StartupRecovery(store: store, backend: backend, logger: .init(label: "test")).run()
        #expect(report.removedBackups == ["g/b-failed", "g/b-pruned"])
        #expect(report.adoptedBackups == ["g/b-20261101T020000Z-00000001"])
        #expect(report.unknownBackups == ["g/b-unknown"], "a manifest that does not decode is not adopted, and not deleted")
        let left = try FileManager.default.contentsOfDirectory(atPath: directory.path + "/repo/g").sorted()
        #expect(left == [
            "b-20261101T020000Z-00000001.manifest.json", "b-20261101T020000Z-00000001.tar.zst",
            "b-kept.manifest.json", "b-kept.tar.zst", "b-unknown.manifest.json", "b-unknown.tar.zst",
        ])
        let adopted = try #require(try store.backup("b-20261101T020000Z-00000001", guest: "g"))
        #expect(adopted.status.phase == .done && adopted.status.consistency == .crash && adopted.status.bytesDone == 5)
        #expect(try store.fileVerdict(backup: "b-20261101T020000Z-00000001", guest: "g") == .keep)
    }
}
