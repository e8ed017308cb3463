import DurableFiles
import Foundation
import TestSupport
import Testing

@Suite("Private state: directories 0700, files 0600")
struct PrivateStateTests {
    func mode(_ path: String) throws -> Int {
        try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
    }

    @Test("a missing state dir is created 0700, parents and all; an existing 0755 one is tightened and reported")
    func directories() throws {
        let root = try TemporaryDirectory("private-state")
        let state = root.path + "/var/lib/felhom"
        #expect(try PrivateState.prepareDirectory(state).isEmpty)
        #expect(try mode(state) == 0o700)

        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: state)
        #expect(try PrivateState.prepareDirectory(state).map(\.description) == ["\(state): 0755 → 0700"])
        #expect(try mode(state) == 0o700)
        #expect(try PrivateState.prepareDirectory(state).isEmpty, "nothing left to tighten")
    }

    @Test("a state dir path that is a file is an error naming it")
    func fileInTheWay() throws {
        let root = try TemporaryDirectory("private-state")
        try root.write("state", [1])
        #expect(throws: DurableFileError(operation: "use as a directory", path: root.path + "/state", errno: ENOTDIR)) {
            _ = try PrivateState.prepareDirectory(root.path + "/state")
        }
    }

    @Test("a new database file is 0600 before SQLite opens it; existing files and their -wal are tightened")
    func databaseFiles() throws {
        let root = try TemporaryDirectory("private-state")
        let database = root.path + "/agent.sqlite"
        #expect(try PrivateState.prepareDatabaseFile(database).isEmpty)
        #expect(try mode(database) == 0o600)

        try root.write("agent.sqlite-wal", [])
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: database)
        try FileManager.default.setAttributes([.posixPermissions: 0o664], ofItemAtPath: database + "-wal")
        let changes = try PrivateState.prepareDatabaseFile(database)
        #expect(changes.map(\.description) == ["\(database): 0644 → 0600", "\(database)-wal: 0664 → 0600"])
        #expect(try mode(database) == 0o600 && mode(database + "-wal") == 0o600)
    }
}
