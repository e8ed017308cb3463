import AgentAPI
import Foundation
import Stacks
import TestSupport
import Testing

@Suite("The felhom-agent command line")
struct AgentCLITests {
    @Test("init writes a 0600 key, refuses to overwrite it without --force, and --force rotates the pin")
    func initialize() async throws {
        let agent = try await AgentHarness()
        let keyPath = agent.root.path + "/state/tls/agent-key.pem"
        let mode = try FileManager.default.attributesOfItem(atPath: keyPath)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let key = try String(contentsOfFile: keyPath, encoding: .utf8)

        let again = try await agent.cli(["init"])
        #expect(again.exitCode == 1 && again.standardError.contains("--force"))
        #expect(try String(contentsOfFile: keyPath, encoding: .utf8) == key)

        let forced = try await agent.cli(["init", "--force", "--json"])
        #expect(forced.exitCode == 0 && !forced.standardOutput.contains(agent.pin))
        #expect(try String(contentsOfFile: keyPath, encoding: .utf8) != key)
    }

    @Test("guest add refuses a bad name, a relative data dir and a duplicate; the token is never stored")
    func guestAdd() async throws {
        let agent = try await AgentHarness()
        let token = try await agent.addGuest("shop", dataDirectory: agent.root.path + "/data")
        #expect(try await agent.cli(["guest", "add", "Bad/Name", "--data-dir", "/d"]).exitCode == 64)
        #expect(try await agent.cli(["guest", "add", "other", "--data-dir", "relative"]).exitCode == 64)
        let duplicate = try await agent.cli(["guest", "add", "shop", "--data-dir", "/d"])
        #expect(duplicate.exitCode == 1 && duplicate.standardError.contains("already exists"))
        let state = agent.root.path + "/state"
        for name in try FileManager.default.contentsOfDirectory(atPath: state) where name.hasPrefix("agent.sqlite") {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(state)/\(name)"))
            #expect(bytes.range(of: Data(token.utf8)) == nil, "\(name)")
        }
    }

    @Test("backup request makes the backup due now, and a backup clears it")
    func request() async throws {
        let agent = try await AgentHarness()
        try agent.root.write("data/a.txt", Array("a".utf8))
        let token = try await agent.addGuest("shop", dataDirectory: agent.root.path + "/data")
        try await agent.start()
        let client = try agent.client(token: token)
        let first = try await client.startBackup(idempotencyKey: "1", .init(quiesced: true, stacks: []))
        #expect(try await agent.waitForFinish(client, backupID: first.response.backupID).phase == .done)
        let settled = try await client.backupDue()
        #expect(!settled.due && settled.lastBackupAt != nil && settled.nextDueAt != nil)

        let requested = try await agent.cli(["backup", "request", "shop"])
        #expect(requested.exitCode == 0)
        #expect(try await client.backupDue().reason == .requested)
        let second = try await client.startBackup(idempotencyKey: "2", .init(quiesced: true, stacks: []))
        #expect(try await agent.waitForFinish(client, backupID: second.response.backupID).phase == .done)
        #expect(try await client.backupDue().due == false)
        #expect(try await agent.cli(["backup", "request", "nobody"]).exitCode == 1)
    }

    @Test("retention keeps the newest N and deletes the files of the rest")
    func retention() async throws {
        let agent = try await AgentHarness(keepLast: 2)
        try agent.root.write("data/a.txt", Array("a".utf8))
        let token = try await agent.addGuest("shop", dataDirectory: agent.root.path + "/data")
        try await agent.start()
        let client = try agent.client(token: token)
        var ids: [String] = []
        for index in 1...3 {
            let started = try await client.startBackup(idempotencyKey: "\(index)", .init(quiesced: true, stacks: []))
            #expect(try await agent.waitForFinish(client, backupID: started.response.backupID).phase == .done)
            ids.append(started.response.backupID)
        }
        #expect(try await client.backups().map(\.backupID) == [ids[2], ids[1]])
        let files = try FileManager.default.contentsOfDirectory(atPath: agent.repository + "/shop")
        #expect(!files.contains { $0.hasPrefix(ids[0]) } && files.count == 4)
        let listed = try await agent.cli(["backups", "--guest", "shop", "--json"])
        let rows = try JSONSerialization.jsonObject(with: Data(listed.standardOutput.utf8)) as? [[String: Any]]
        #expect(rows?.map { $0["backup_id"] as? String } == [ids[2], ids[1]])
        let keys = Set(rows?.first?.keys.map { $0 } ?? [])
        #expect(keys.isSuperset(of: ["backup_id", "guest", "phase", "consistency", "started_at", "finished_at", "size_bytes"]))
    }

    @Test("a config error names the key and exits 78")
    func configError() async throws {
        let directory = try TemporaryDirectory("agent-config")
        let path = directory.path + "/agent.yaml"
        try "listen: 127.0.0.1:8443\nstate_dir: /s\nrepository: /r\nretention: { keep_last: 0 }\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try await AgentHarness.cli(["ops", "--config", path])
        #expect(result.exitCode == 78 && result.standardError.contains("`retention.keep_last`"))
    }

    @Test("a fresh install has a 0700 state dir and a 0600 database; an older, looser one is tightened at startup and logged")
    func privateModes() async throws {
        let agent = try await AgentHarness()
        _ = try await agent.addGuest("shop", dataDirectory: agent.root.path + "/data")
        let state = agent.root.path + "/state"
        let mode = { (path: String) in try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int }
        #expect(try mode(state) == 0o700)
        #expect(try mode(state + "/agent.sqlite") == 0o600)

        // As an earlier release left it: the dir and the database readable by everyone.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: state)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: state + "/agent.sqlite")
        try await agent.start()
        #expect(try mode(state) == 0o700)
        for file in try FileManager.default.contentsOfDirectory(atPath: state) where file.hasPrefix("agent.sqlite") || file == "agent.lock" {
            #expect(try mode(state + "/" + file) == 0o600, "\(file)")
        }
        #expect(agent.log.contains("tightened the mode of private state") && agent.log.contains("0644 → 0600"), "\(agent.log)")
    }

    /// Writes an agent config into `directory` and returns its path.
    static func writeConfig(in directory: String, listen: String = "127.0.0.1:0", stateDir: String, repository: String) throws -> String {
        let path = directory + "/agent-\(UInt32.random(in: 0...UInt32.max)).yaml"
        try "listen: \(listen)\nstate_dir: \(stateDir)\nrepository: \(repository)\nbackend: directory\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("run refuses a state_dir or repository that is a file, and a busy port: exit 78, one line naming the path or address")
    func startupErrors() async throws {
        let agent = try await AgentHarness()
        let root = agent.root.path
        try "not a directory".write(toFile: root + "/a-file", atomically: true, encoding: .utf8)

        let stateIsFile = try await AgentHarness.cli(["run", "--config", try Self.writeConfig(in: root, stateDir: root + "/a-file", repository: root + "/repo")])
        #expect(stateIsFile.exitCode == 78)
        #expect(stateIsFile.standardError.contains("state_dir \(root)/a-file is not a directory"), "\(stateIsFile.standardError)")
        #expect(stateIsFile.standardError.split(separator: "\n").count == 1, "\(stateIsFile.standardError)")

        let repositoryIsFile = try await AgentHarness.cli(["run", "--config", try Self.writeConfig(in: root, stateDir: root + "/state", repository: root + "/a-file")])
        #expect(repositoryIsFile.exitCode == 78)
        #expect(repositoryIsFile.standardError.contains("repository \(root)/a-file is not a directory"), "\(repositoryIsFile.standardError)")

        try await agent.start()
        let busy = try Self.writeConfig(in: root, listen: "127.0.0.1:\(agent.port)", stateDir: root + "/second-state", repository: root + "/second-repo")
        #expect(try await AgentHarness.cli(["init", "--config", busy]).exitCode == 0)
        let portTaken = try await AgentHarness.cli(["run", "--config", busy])
        #expect(portTaken.exitCode == 78)
        #expect(portTaken.standardError.contains("cannot listen on 127.0.0.1:\(agent.port): the address is already in use"), "\(portTaken.standardError)")
        #expect(portTaken.standardError.split(separator: "\n").filter { $0.hasPrefix("felhom-agent:") }.count == 1, "\(portTaken.standardError)")
    }

    @Test("a repository that is the state dir itself still starts: one lock covers both")
    func repositoryIsStateDir() async throws {
        let agent = try await AgentHarness()
        let root = agent.root.path
        let config = try Self.writeConfig(in: root, stateDir: root + "/state", repository: root + "/state")
        let run = try BackgroundProcess(
            executable: AgentHarness.binary, arguments: ["run", "--config", config], logPath: root + "/same-dir.log",
            environment: ["FELHOM_LOG_LEVEL": "info"])
        #expect(await run.waitForLine("] listening"), "\(run.log)")
        run.stop()
    }
}
