import Foundation

/// A stack as compose itself resolves it: `docker compose config --format json`, run in the
/// stack's directory the way a plain `docker compose up` there would read it (override files,
/// `COMPOSE_FILE`, `COMPOSE_PROFILES`, `.env`, `include:`, `extends`, `label_file`, interpolation).
public struct ComposeProject: Codable, Sendable, Equatable {
    /// The label that marks a service, and so its stack, as protected infrastructure.
    public static let protectedLabel = "eu.felhom.protected"

    /// The project name compose resolves: `name:`, `COMPOSE_PROJECT_NAME`, or the directory's name.
    public var name: String
    /// The services a plain `up` runs, sorted: compose has already left out inactive profiles,
    /// and a service with `deploy.replicas: 0` runs no container, so it is left out too.
    public var services: [String]
    /// Services whose resolved labels carry `eu.felhom.protected` with compose's value for true: the string `true`.
    public var protectedServices: [String]

    /// A resolution as compose would give it; ``parse(configJSON:path:)`` makes one from compose's output.
    public init(name: String, services: [String], protectedServices: [String]) {
        self.name = name
        self.services = services
        self.protectedServices = protectedServices
    }

    /// Whether compose's labels alone make the stack protected infrastructure.
    public var isProtected: Bool { !protectedServices.isEmpty }

    /// Reads the JSON that `docker compose config --format json` prints.
    /// - Throws: ``ComposeFileError`` when it is not that shape; `path` names the stack in the error.
    public static func parse(configJSON: String, path: String) throws(ComposeFileError) -> ComposeProject {
        let config: ResolvedConfig
        do {
            config = try JSONDecoder().decode(ResolvedConfig.self, from: Data(configJSON.utf8))
        } catch {
            throw ComposeFileError(path: path, message: "compose printed a config this controller cannot read: \(error)")
        }
        var services: [String] = []
        var protected: [String] = []
        for (name, service) in config.services ?? [:] {
            if service.deploy?.replicas != 0 { services.append(name) }
            if service.labels?[protectedLabel] == "true" { protected.append(name) }
        }
        return ComposeProject(name: config.name, services: services.sorted(), protectedServices: protected.sorted())
    }

    /// The part of compose's resolved config this controller reads.
    private struct ResolvedConfig: Decodable {
        struct Service: Decodable {
            struct Deploy: Decodable {
                var replicas: Int?
            }
            var labels: [String: String]?
            var deploy: Deploy?
        }
        var name: String
        var services: [String: Service]?
    }
}

/// A stack whose compose files could not be resolved: what compose said, or why it was not asked.
public struct ComposeFileError: Error, Codable, Sendable, Equatable, CustomStringConvertible {
    /// The stack's directory or compose file.
    public var path: String
    /// Compose's own words, or why compose was not asked.
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String {
        let oneLine = message.split(whereSeparator: \.isNewline).map(\.trimmedWhitespace).filter { !$0.isEmpty }.joined(separator: " ")
        return "\(path): \(oneLine)"
    }
}
