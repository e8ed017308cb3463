/// A handler's parameters as PVE's JSON schema declares them: `additionalProperties => 0`, types, required names.
///
/// Checking them the way PVE does makes the fake refuse what a real node refuses, so a client bug
/// (a misspelt or misplaced option) fails against the fake too.
struct ParameterSchema: Sendable {
    enum Kind: Sendable {
        case string
        case integer(minimum: Int?)
        case boolean
        case enumeration([String])
    }

    var properties: [String: Kind]
    var required: Set<String> = []

    /// Checks `params` and returns them with booleans normalized to `0`/`1`.
    func validate(_ params: [String: String]) throws(ProxmoxError) -> Parameters {
        var errors: [(String, String)] = []
        var normalized: [String: String] = [:]
        for (name, value) in params.sorted(by: { $0.key < $1.key }) {
            guard let kind = properties[name] else {
                errors.append((name, "property is not defined in schema and the schema does not allow additional properties"))
                continue
            }
            switch kind {
            case .string:
                normalized[name] = value
            case .integer(let minimum):
                guard let number = Int(value) else {
                    errors.append((name, "type check ('integer') failed - got '\(value)'"))
                    continue
                }
                if let minimum, number < minimum {
                    errors.append((name, "value must have a minimum value of \(minimum)"))
                    continue
                }
                normalized[name] = String(number)
            case .boolean:
                switch value.lowercased() {
                case "1", "true", "yes", "on": normalized[name] = "1"
                case "0", "false", "no", "off": normalized[name] = "0"
                default: errors.append((name, "type check ('boolean') failed - got '\(value)'"))
                }
            case .enumeration(let values):
                guard values.contains(value) else {
                    errors.append((name, "value '\(value)' does not have a value in the enumeration '\(values.joined(separator: ", "))'"))
                    continue
                }
                normalized[name] = value
            }
        }
        for name in required.sorted() where params[name] == nil {
            errors.append((name, "property is missing"))
        }
        guard errors.isEmpty else { throw .parameters(errors) }
        return Parameters(values: normalized)
    }
}

/// Parameters that passed their schema.
struct Parameters: Sendable {
    var values: [String: String]

    subscript(_ name: String) -> String? { values[name] }

    func int(_ name: String) -> Int? { values[name].flatMap { Int($0) } }

    /// `nil` when absent, so a caller can apply PVE's default.
    func bool(_ name: String) -> Bool? { values[name].map { $0 == "1" } }
}
