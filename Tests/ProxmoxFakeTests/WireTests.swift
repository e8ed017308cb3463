import Foundation
import ProxmoxFake
import Stacks
import Testing
import TestSupport

/// The wire rules every endpoint shares: token auth, error shape and reason phrases, type quirks.
@Suite("Proxmox fake: wire format")
struct WireTests {
    @Test("a request without a token is 401 No ticket, a wrong or unknown token 401 Authentication failed!")
    func unauthorized() async throws {
        try await FakeNode.with { node in
            let missing = try await node.client.api("GET", "/nodes/pve1/lxc", auth: .none)
            #expect(missing.status == 401)
            #expect(missing.reason == "No ticket")

            let bearer = try await node.client.api("GET", "/nodes/pve1/lxc", auth: .header("Bearer \(node.fake.tokenSecret)"))
            #expect(bearer.status == 401)
            #expect(bearer.reason == "No ticket")

            let wrongSecret = try await node.client.api(
                "GET", "/nodes/pve1/lxc", auth: .header("PVEAPIToken=\(node.fake.tokenID)=\(UUID().uuidString)"))
            #expect(wrongSecret.status == 401)
            #expect(wrongSecret.reason == "Authentication failed!")

            let unknownToken = try await node.client.api(
                "GET", "/nodes/pve1/lxc", auth: .header("PVEAPIToken=someone@pve!other=\(node.fake.tokenSecret)"))
            #expect(unknownToken.status == 401)
            #expect(unknownToken.reason == "Authentication failed!")

            let good = try await node.client.api("GET", "/nodes/pve1/lxc")
            #expect(good.status == 200)
            #expect(good.objects.isEmpty)
        }
    }

    @Test("the next free id is a string, and asking for a taken one is a 400 with errors.vmid")
    func nextID() async throws {
        try await FakeNode.with { node in
            try node.addGuest(100, hostname: "a", files: [:])
            try node.addGuest(101, hostname: "b", files: [:])
            let next = try await node.client.api("GET", "/cluster/nextid")
            #expect(next.status == 200)
            #expect(next.string == "102")

            let free = try await node.client.api("GET", "/cluster/nextid", [("vmid", "9900")])
            #expect(free.string == "9900")

            let taken = try await node.client.api("GET", "/cluster/nextid", [("vmid", "101")])
            #expect(taken.status == 400)
            #expect(taken.reason == "Parameter verification failed.")
            #expect(taken.errors["vmid"] == "VM 101 already exists\n")
            #expect(taken.json?["data"] is NSNull)
        }
    }

    @Test("errors carry their first line as the reason phrase and the message in the body")
    func errorShape() async throws {
        try await FakeNode.with { node in
            let missing = try await node.client.api("GET", "/nodes/pve1/lxc/900/status/current")
            #expect(missing.status == 500)
            #expect(missing.reason == "Configuration file 'nodes/pve1/lxc/900.conf' does not exist")
            #expect(missing.message == "Configuration file 'nodes/pve1/lxc/900.conf' does not exist\n")

            let unknown = try await node.client.api("GET", "/nodes/pve1/nothing-here")
            #expect(unknown.status == 501)
            #expect(unknown.message == "Method 'GET /nodes/pve1/nothing-here' not implemented\n")

            let extra = try await node.client.api("GET", "/nodes/pve1/lxc", [("bogus", "1")])
            #expect(extra.status == 400)
            #expect(extra.errors["bogus"]?.hasPrefix("property is not defined in schema") == true)
        }
    }

    @Test("status/current has vmid as a number and lock only while one is set; start of a running CT is refused")
    func statusAndLock() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: [:])
            let status = try await node.client.api("GET", "/nodes/pve1/lxc/101/status/current").object
            #expect(status["vmid"] as? Int == 101)
            #expect(status["status"] as? String == "running")
            #expect(status["name"] as? String == "web")
            #expect(status["lock"] == nil)

            node.fake.setLock(101, "backup")
            let locked = try await node.client.api("GET", "/nodes/pve1/lxc/101/status/current").object
            #expect(locked["lock"] as? String == "backup")
            let refused = try await node.client.api("PUT", "/nodes/pve1/lxc/101/config", [("onboot", "1")])
            #expect(refused.status == 500)
            #expect(refused.reason == "CT is locked (backup)")

            let again = try await node.client.api("POST", "/nodes/pve1/lxc/101/status/start")
            #expect(again.status == 500)
            #expect(again.message == "CT 101 already running\n")

            // A lock fails the stop inside its task, not synchronously.
            let stop = try await node.client.api("POST", "/nodes/pve1/lxc/101/status/stop")
            let upid = try #require(stop.string)
            #expect(upid.hasPrefix("UPID:pve1:") && upid.contains(":vzstop:101:felhom@pve!agent:"))
            let ended = try await node.client.waitForTask(upid)
            #expect(ended["exitstatus"] as? String == "CT is locked (backup)")
            #expect(ended["user"] as? String == "felhom@pve")
            #expect(ended["tokenid"] as? String == "agent")
            #expect(ended["id"] as? String == "101")
        }
    }

    @Test("a JSON body works like a form body, booleans as true/false or 0/1")
    func jsonBody() async throws {
        try await FakeNode.with { node in
            try node.addGuest(101, hostname: "web", files: [:])
            let file = node.directory.path + "/body.json"
            try Data(#"{"onboot":true,"delete":"net0"}"#.utf8).write(to: URL(fileURLWithPath: file))
            let output = try await node.run("curl", [
                "-sS", "--cacert", node.fake.caFile, "--pinnedpubkey", node.fake.pin, "-X", "PUT",
                "-H", "Authorization: PVEAPIToken=\(node.fake.tokenFileContents)", "-H", "Content-Type: application/json",
                "--data-binary", "@" + file, node.fake.apiURL + "/api2/json/nodes/pve1/lxc/101/config",
            ])
            #expect(output.standardOutput == #"{"data":null}"#)
            let config = try await node.client.api("GET", "/nodes/pve1/lxc/101/config").object
            #expect(config["onboot"] as? Int == 1)
            #expect(config["net0"] == nil)
            #expect(config["hostname"] as? String == "web")
        }
    }
}
