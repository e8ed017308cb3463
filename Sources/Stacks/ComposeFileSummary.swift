import Foundation
import Yams

/// What the controller reads from a compose file itself: the services and whether any is protected.
///
/// Compose remains the authority on the file; this summary exists so that
/// protection and the service list are known without a docker call per stack.
public struct ComposeFileSummary: Sendable, Equatable {
    /// The label that marks a service, and so its stack, as protected infrastructure.
    public static let protectedLabel = "eu.felhom.protected"

    /// Services that compose starts by default, sorted. Services behind a
    /// `profiles:` key are left out because a plain `up` does not create them.
    public var services: [String]
    /// Whether any service carries `eu.felhom.protected: "true"`.
    public var hasProtectedService: Bool

    public init(services: [String], hasProtectedService: Bool) {
        self.services = services
        self.hasProtectedService = hasProtectedService
    }

    /// Reads and summarises the compose file at `path`.
    /// - Throws: ``ComposeFileError`` naming the file and the parser's message.
    public static func load(path: String) throws(ComposeFileError) -> ComposeFileSummary {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ComposeFileError(path: path, message: "cannot read it: \(error.localizedDescription)")
        }
        return try parse(text, path: path)
    }

    /// Summarises compose YAML `text`; `path` only names the file in errors.
    public static func parse(_ text: String, path: String) throws(ComposeFileError) -> ComposeFileSummary {
        let document: Any?
        do {
            document = try Yams.load(yaml: text)
        } catch {
            throw ComposeFileError(path: path, message: "\(error)")
        }
        guard let root = document as? [String: Any] else {
            throw ComposeFileError(path: path, message: "the top level is not a mapping")
        }
        guard let services = root["services"] as? [String: Any] else {
            throw ComposeFileError(path: path, message: "it has no `services` mapping")
        }
        var names: [String] = []
        var hasProtectedService = false
        for (name, definition) in services {
            let service = definition as? [String: Any] ?? [:]
            // A profiled service runs only when its profile is asked for, and `replicas: 0` never runs:
            // neither may make a running stack look partial.
            let replicas = (service["deploy"] as? [String: Any])?["replicas"] as? Int
            if service["profiles"] == nil, replicas != 0 { names.append(name) }
            if isProtected(labels: service["labels"]) { hasProtectedService = true }
        }
        return ComposeFileSummary(services: names.sorted(), hasProtectedService: hasProtectedService)
    }

    /// Compose accepts labels as a mapping or as a list of `key=value`.
    private static func isProtected(labels: Any?) -> Bool {
        if let mapping = labels as? [String: Any] {
            return isTrue(mapping[protectedLabel])
        }
        if let list = labels as? [String] {
            return list.contains { $0 == "\(protectedLabel)=true" }
        }
        return false
    }

    private static func isTrue(_ value: Any?) -> Bool {
        switch value {
        case let flag as Bool: flag
        case let text as String: text == "true"
        default: false
        }
    }
}

/// A compose file that could not be read or parsed.
public struct ComposeFileError: Error, Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public var description: String {
        let oneLine = message.split(whereSeparator: \.isNewline).map(\.trimmedWhitespace).filter { !$0.isEmpty }.joined(separator: " ")
        return "\(path): \(oneLine)"
    }
}
