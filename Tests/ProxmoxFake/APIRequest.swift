import Foundation

/// One authenticated API call: the path below `/api2/json` and the parameters from the query and the body.
struct APIRequest: Sendable {
    var method: String
    /// Raw, still percent-encoded, so a volid with `/` in it can be told apart from path segments.
    var path: String
    var params: [String: String]
    /// The full token id the call came with, e.g. `felhom@pve!agent`.
    var user: String

    /// Matches `path` against a pattern like `nodes/{node}/lxc/{vmid}/status/current`.
    /// A last segment `{name*}` takes the rest of the path, slashes included. Values are percent-decoded.
    func match(_ pattern: String) -> [String: String]? {
        let wanted = pattern.split(separator: "/").map(String.init)
        let actual = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        var values: [String: String] = [:]
        for (index, part) in wanted.enumerated() {
            if part.hasPrefix("{") && part.hasSuffix("*}") {
                guard index < actual.count else { return nil }
                let rest = actual[index...].joined(separator: "/")
                guard !rest.isEmpty else { return nil }
                values[String(part.dropFirst().dropLast(2))] = rest.removingPercentEncoding ?? rest
                return values
            }
            guard index < actual.count else { return nil }
            if part.hasPrefix("{") && part.hasSuffix("}") {
                guard !actual[index].isEmpty else { return nil }
                values[String(part.dropFirst().dropLast())] = actual[index].removingPercentEncoding ?? actual[index]
            } else if part != actual[index] {
                return nil
            }
        }
        return actual.count == wanted.count ? values : nil
    }

    /// Decodes `application/x-www-form-urlencoded` as PVE's CGI layer does: `+` is a space.
    static func formDecode(_ text: String) -> [String: String] {
        var result: [String: String] = [:]
        for pair in text.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ part: Substring) -> String {
                let spaced = part.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            result[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return result
    }

    /// Flattens a JSON object body to the string parameters PVE's schema checks then see.
    static func jsonDecode(_ data: Data) -> [String: String]? {
        guard let object = try? JSONDecoder().decode([String: JSONScalar].self, from: data) else { return nil }
        return object.compactMapValues(\.text)
    }
}

/// A JSON body member: booleans become `1`/`0`, numbers their text, and nested values their JSON text.
private enum JSONScalar: Decodable {
    case text(String)
    case null

    var text: String? {
        if case .text(let value) = self { return value }
        return nil
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .text(value ? "1" : "0")
        } else if let value = try? container.decode(Int.self) {
            self = .text(String(value))
        } else if let value = try? container.decode(Double.self) {
            self = .text(String(value))
        } else if let value = try? container.decode(String.self) {
            self = .text(value)
        } else {
            // Unsure: how PVE flattens nested JSON; the fake keeps a marker the schema will refuse for typed options.
            self = .text("<nested JSON>")
        }
    }
}
