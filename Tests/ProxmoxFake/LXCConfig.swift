import Crypto
import Foundation

/// The container config options the fake knows, and the `pct.conf` text format.
enum LXCConfig {
    /// Options whose values PVE's `check_type` turns into JSON numbers.
    static let numericKeys: Set<String> = [
        "onboot", "memory", "swap", "cores", "cpuunits", "unprivileged", "protection", "template", "tty",
        "console", "cpulimit", "debug",
    ]

    /// The option schema for `PUT …/config` and the config part of `POST /nodes/{node}/lxc`.
    static var schema: [String: ParameterSchema.Kind] {
        var kinds: [String: ParameterSchema.Kind] = [
            "hostname": .string, "description": .string, "arch": .enumeration(["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"]),
            "ostype": .string, "memory": .integer(minimum: 16), "swap": .integer(minimum: 0), "cores": .integer(minimum: 1),
            "cpulimit": .string, "cpuunits": .integer(minimum: 0), "onboot": .boolean, "startup": .string,
            "unprivileged": .boolean, "protection": .boolean, "template": .boolean, "features": .string,
            "nameserver": .string, "searchdomain": .string, "tags": .string, "timezone": .string, "tty": .integer(minimum: 0),
            "console": .boolean, "cmode": .enumeration(["shell", "console", "tty"]), "hookscript": .string,
            "lock": .enumeration(["backup", "create", "destroyed", "disk", "fstrim", "migrate", "mounted", "rollback", "snapshot", "snapshot-delete"]),
            "rootfs": .string, "debug": .boolean, "entrypoint": .string, "env": .string,
        ]
        for index in 0..<32 {
            kinds["net\(index)"] = .string
            kinds["mp\(index)"] = .string
            kinds["unused\(index)"] = .string
            kinds["dev\(index)"] = .string
        }
        return kinds
    }

    static func isConfigKey(_ key: String) -> Bool { schema[key] != nil }

    /// A config as `GET …/config` returns it, with the `digest` of its file text.
    static func json(_ config: [String: String]) -> JSONValue {
        var members: [(String, JSONValue)] = config.sorted { $0.key < $1.key }.map { key, value in
            if numericKeys.contains(key), let number = Int(value) { return (key, .int(number)) }
            return (key, .string(value))
        }
        members.append(("digest", .string(digest(config))))
        return .object(members)
    }

    /// SHA-1 of the config text, as PVE's digest is of the file.
    static func digest(_ config: [String: String]) -> String {
        Insecure.SHA1.hash(data: Data(text(config).utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// `write_pct_config`: the description as `#` lines, then `key: value` lines in key order.
    static func text(_ config: [String: String]) -> String {
        var lines: [String] = []
        if let description = config["description"] {
            lines += description.split(separator: "\n", omittingEmptySubsequences: false).map { "#\($0)" }
        }
        for (key, value) in config.sorted(by: { $0.key < $1.key }) where key != "description" {
            lines.append("\(key): \(value)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// `parse_pct_config` for the main section: stops at the first `[snapshot]` section.
    static func parse(_ text: String) -> [String: String] {
        var config: [String: String] = [:]
        var description: [String] = []
        for line in text.split(separator: "\n") {
            if line.hasPrefix("[") { break }
            if line.hasPrefix("#") {
                description.append(String(line.dropFirst()))
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            config[key] = value
        }
        if !description.isEmpty { config["description"] = description.joined(separator: "\n") }
        return config
    }

    /// A locally administered MAC in Proxmox's default prefix, as `random_ether_addr` makes.
    static func randomMAC() -> String {
        "BC:24:11:" + (0..<3).map { _ in String(format: "%02X", Int.random(in: 0...255)) }.joined(separator: ":")
    }

    /// `netN` with a new `hwaddr`, for restores with `unique=1`.
    static func withNewMAC(_ net: String) -> String {
        var parts = net.split(separator: ",").map(String.init)
        let fresh = "hwaddr=\(randomMAC())"
        if let index = parts.firstIndex(where: { $0.hasPrefix("hwaddr=") }) {
            parts[index] = fresh
        } else {
            parts.insert(fresh, at: parts.firstIndex { $0.hasPrefix("name=") }.map { $0 + 1 } ?? 0)
        }
        return parts.joined(separator: ",")
    }
}
