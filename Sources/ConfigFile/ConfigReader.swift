import Yams

/// A config file that cannot be used, with the key at fault.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var path: String
    /// The dotted key, e.g. `docker.command_timeout_seconds`, or `nil` for the whole file.
    public var key: String?
    public var message: String

    public init(path: String, key: String?, message: String) {
        self.path = path
        self.key = key
        self.message = message
    }

    public var description: String {
        let oneLine = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        if let key { return "config \(path): key `\(key)`: \(oneLine)" }
        return "config \(path): \(oneLine)"
    }
}

/// Typed reads from a YAML node tree, each failing with the key it was reading.
public struct ConfigReader: Sendable {
    public var path: String

    public init(path: String) {
        self.path = path
    }

    public func fail(_ key: String?, _ message: String) -> ConfigError {
        ConfigError(path: path, key: key, message: message)
    }

    public func mapping(_ node: Node, key: String?, allowed: Set<String>) throws(ConfigError) -> [String: Node] {
        guard let mapping = node.mapping else {
            throw fail(key, "must be a mapping of keys to values")
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else { throw fail(key, "has a key that is not a string") }
            let dotted = key.map { "\($0).\(name)" } ?? name
            guard allowed.contains(name) else {
                throw fail(dotted, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            result[name] = value
        }
        return result
    }

    public func string(_ node: Node, key: String) throws(ConfigError) -> String {
        guard case .scalar(let scalar) = node else { throw fail(key, "must be a string") }
        return scalar.string
    }

    public func absolutePath(_ node: Node?, key: String, required: Bool) throws(ConfigError) -> String? {
        guard let node else {
            if required { throw fail(key, "is required") }
            return nil
        }
        let value = try string(node, key: key)
        guard value.hasPrefix("/") else { throw fail(key, "must be an absolute path, got \"\(value)\"") }
        return value.count > 1 && value.hasSuffix("/") ? String(value.dropLast()) : value
    }

    public func stringList(_ node: Node, key: String) throws(ConfigError) -> [String] {
        guard let sequence = node.sequence else { throw fail(key, "must be a list of names") }
        var values: [String] = []
        for (index, item) in sequence.enumerated() {
            values.append(try string(item, key: "\(key)[\(index)]"))
        }
        return values
    }

    public func positiveSeconds(_ node: Node, key: String) throws(ConfigError) -> Duration {
        guard case .scalar(let scalar) = node, let seconds = Double(scalar.string), seconds.isFinite, seconds > 0 else {
            throw fail(key, "must be a number of seconds greater than 0")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

extension ConfigReader {
    /// A whole number no smaller than `minimum`.
    public func integer(_ node: Node, key: String, minimum: Int) throws(ConfigError) -> Int {
        guard case .scalar(let scalar) = node, let value = Int(scalar.string), value >= minimum else {
            throw fail(key, "must be a whole number of at least \(minimum)")
        }
        return value
    }

    /// `true` or `false`.
    public func bool(_ node: Node, key: String) throws(ConfigError) -> Bool {
        guard case .scalar(let scalar) = node, let value = Bool(scalar.string) else {
            throw fail(key, "must be true or false")
        }
        return value
    }
}
