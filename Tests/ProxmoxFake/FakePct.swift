import Foundation
import Hummingbird
import NIOCore
import Stacks
import Synchronization

/// The fake `pct`: a python3 script that sends its argv to the fake over HTTPS and replays the answer.
///
/// Only the host can clear a lock (`pct unlock`) or run a probe in a guest (`pct exec`), so the agent's
/// backend shells out for those; this lets its tests run that path for real.
enum FakePct {
    /// Writes the script (mode 0755). It finds its endpoint in `pct-endpoint.json` beside it, written by `start()`.
    static func install(at path: String) throws {
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/bin/env python3"
        try Data(("#!\(python)\n" + script).utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
    }

    static func writeEndpoint(at path: String, url: String, pin: String, authorization: String) throws {
        let object = ["url": url, "pin": pin, "authorization": authorization]
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path)
    }

    private static let script = #"""
    # Test double of Proxmox VE's `pct`, written by ProxmoxFake. It posts its argv to the fake and replays
    # the answer's stdout, stderr and exit code.
    #
    # Chain validation is off on purpose (the fake's certificate is self-signed); the leaf's SPKI is checked
    # against the pin instead, as the agent does with CURLOPT_PINNEDPUBLICKEY.
    import base64, hashlib, http.client, json, os, ssl, sys

    def tlv(data, pos):
        """The tag, content offset and content length of the DER element at pos."""
        tag = data[pos]
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        return tag, pos, length

    def spki(der):
        _, pos, _ = tlv(der, 0)          # Certificate
        _, pos, _ = tlv(der, pos)        # tbsCertificate: its fields follow
        fields = []
        for _ in range(7):
            start = pos
            _, content, length = tlv(der, pos)
            pos = content + length
            fields.append((der[start], start, pos))
        _, start, end = fields[6] if fields[0][0] == 0xA0 else fields[5]
        return der[start:end]

    def main():
        with open(os.path.join(os.path.dirname(os.path.realpath(__file__)), "pct-endpoint.json")) as f:
            endpoint = json.load(f)
        url = endpoint["url"][len("https://"):]
        host, port = url.rsplit(":", 1)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=120)
        connection.connect()
        der = connection.sock.getpeercert(binary_form=True)
        pin = "sha256//" + base64.b64encode(hashlib.sha256(spki(der)).digest()).decode()
        if pin != endpoint["pin"]:
            sys.stderr.write("pct (fake): the server's key does not match the pin\n")
            return 255
        body = json.dumps({"argv": sys.argv[1:]})
        connection.request("POST", "/fake/pct", body=body, headers={
            "Authorization": endpoint["authorization"], "Content-Type": "application/json"})
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            sys.stderr.write("pct (fake): HTTP %d %s\n" % (response.status, payload.decode(errors="replace")))
            return 255
        answer = json.loads(payload)
        sys.stdout.write(answer["stdout"])
        sys.stderr.write(answer["stderr"])
        return answer["exit"]

    if __name__ == "__main__":
        try:
            sys.exit(main())
        except (OSError, ValueError) as error:
            sys.stderr.write("pct (fake): %s\n" % error)
            sys.exit(255)
    """#
}

extension ProxmoxFake {
    /// Runs one `pct` command line and answers `{"stdout","stderr","exit"}`.
    func pctResponse(_ body: Data) async -> Response {
        let argv = ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any])?["argv"] as? [String] ?? []
        let (stdout, stderr, exit) = await pct(argv)
        let json = JSONValue.object([("stdout", .string(stdout)), ("stderr", .string(stderr)), ("exit", .int(Int(exit)))])
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: json.serialized)))
    }

    /// What `pct` prints and returns; a Perl `die` in pct is exit 255.
    private func pct(_ argv: [String]) async -> (String, String, Int32) {
        guard argv.count >= 2, let vmid = Int(argv[1]) else {
            return ("", "400 not enough arguments\npct <command> <vmid> [OPTIONS]\n", 255)
        }
        let missing = "Configuration file 'nodes/\(node)/lxc/\(vmid).conf' does not exist\n"
        switch argv[0] {
        case "unlock":
            let outcome: String? = state.withLock { state in
                guard let guest = state.guests[vmid] else { return missing }
                guard guest.lock != nil else { return "no lock found trying to remove any lock\n" }
                state.guests[vmid]?.config["lock"] = nil
                return nil
            }
            return outcome.map { ("", $0, 255) } ?? ("", "", 0)
        case "status":
            guard let guest = state.withLock({ $0.guests[vmid] }) else { return ("", missing, 255) }
            return ("status: \(guest.running ? "running" : "stopped")\n", "", 0)
        case "exec":
            guard let guest = state.withLock({ $0.guests[vmid] }) else { return ("", missing, 255) }
            guard guest.running else { return ("", "CT \(vmid) not running\n", 255) }
            var command = Array(argv.dropFirst(2))
            if command.first == "--" { command.removeFirst() }
            guard let executable = command.first else { return ("", "missing command\n", 255) }
            // A real `pct exec` runs inside the container with cwd `/`. The fake runs the command on the host
            // with the guest's root directory as cwd, so probes must use paths relative to `/`
            // (`cat etc/hostname`, not `cat /etc/hostname`).
            do {
                let output = try await HostCommands.run(executable, Array(command.dropFirst()), in: guest.rootfs, timeout: .seconds(60))
                // Unsure: what lxc-attach returns for a command killed by a signal; the fake says 255.
                return (output.standardOutput, output.standardError, output.exitCode ?? 255)
            } catch {
                return ("", "pct (fake): \(error)\n", 255)
            }
        default:
            return ("", "pct (fake): '\(argv[0])' is not modeled; the fake knows unlock, status and exec\n", 255)
        }
    }
}
