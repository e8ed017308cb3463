import Foundation
import TestSupport
import Subprocess
import Testing
@testable import HostAgent

@Suite("Reading the tar stream into a manifest")
struct TarStreamReaderTests {
    /// A tree with the cases tar encodes specially: long and non-ASCII names,
    /// hard links, symlinks, empty files and directories.
    static func makeTree(in directory: TemporaryDirectory) throws {
        try directory.write("plain.txt", Array("hello\n".utf8))
        try directory.write("empty", [])
        try directory.write("nested/deeper/random.bin", randomBytes(700_001))
        try directory.write(String(repeating: "long-name-", count: 12) + "/" + String(repeating: "x", count: 120), Array("far\n".utf8))
        try directory.write("ünïcødé/ファイル.txt", Array("utf8\n".utf8))
        try FileManager.default.createDirectory(atPath: directory.path + "/empty-dir", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: directory.path + "/link", withDestinationPath: "plain.txt")
        try FileManager.default.linkItem(atPath: directory.path + "/plain.txt", toPath: directory.path + "/hardlink.txt")
    }

    static func tarStream(of directory: String) async throws -> [UInt8] {
        let result = try await Subprocess.run(
            .name("tar"),
            arguments: ["--create", "--file=-", "--format=posix", "--pax-option=delete=atime,delete=ctime", "--directory=\(directory)", "."],
            output: .bytes(limit: 64 << 20), error: .discarded)
        return result.standardOutput
    }

    @Test("entries and checksums match the tree, whatever the chunk sizes", arguments: [1, 511, 512, 4096, 65536])
    func matchesTree(chunk: Int) async throws {
        let directory = try TemporaryDirectory("tar-reader")
        try Self.makeTree(in: directory)
        let stream = try await Self.tarStream(of: directory.path)

        var reader = TarStreamReader()
        var offset = 0
        while offset < stream.count {
            let end = min(offset + chunk, stream.count)
            try stream[offset..<end].withUnsafeBytes { try reader.consume($0) }
            offset = end
        }
        #expect(reader.isComplete)
        let manifest = BackupManifest(
            backupID: "b", guest: "g", createdAt: Date(), files: reader.entries.files,
            directories: reader.entries.directories, symlinks: reader.entries.symlinks, archiveBytes: 0)
        let expected = try DataTree.read(directory.path)
        #expect(DataTree(manifest: manifest) == expected)
        #expect(reader.contentBytes == 700_001 + 6 + 4 + 5)
    }

    @Test("a stream cut short is not complete")
    func truncated() async throws {
        let directory = try TemporaryDirectory("tar-reader")
        try Self.makeTree(in: directory)
        let stream = try await Self.tarStream(of: directory.path)
        var reader = TarStreamReader()
        try stream.prefix(stream.count / 2).withUnsafeBytes { try reader.consume($0) }
        #expect(!reader.isComplete)
    }

    @Test("a corrupted header is rejected")
    func corrupt() async throws {
        let directory = try TemporaryDirectory("tar-reader")
        try directory.write("a.txt", Array("a".utf8))
        var stream = try await Self.tarStream(of: directory.path)
        stream[0] ^= 0xff
        var reader = TarStreamReader()
        #expect(throws: TarStreamError.self) {
            try stream.withUnsafeBytes { try reader.consume($0) }
        }
    }
}
