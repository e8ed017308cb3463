import Foundation
import Yams

/// The files and settings that feed compose's resolution of one stack directory, stamped so
/// that a cached resolution is reused only while none of them has changed.
///
/// This is the one place the controller still reads compose YAML itself, and only to name
/// files: `include:`, `extends: {file:}` and `label_file:` can point anywhere, including
/// outside the stack's directory. Compose remains the authority on what the files mean.
public struct ComposeInputs: Codable, Sendable, Equatable {
    /// One file's identity and change stamp; `size == -1` for a file that does not exist.
    public struct Stamp: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var modifiedNs: Int64
        public var inode: UInt64
    }

    public var files: [Stamp]
    /// `COMPOSE_*` variables of this process, which compose reads as well as `.env`.
    public var environment: [String: String]

    /// The most files one stack may name before the rest are left out of the stamp.
    static let fileLimit = 256
    /// Files larger than this are stamped but not read for references.
    static let readLimit = 1 << 20
    static let composeEnvironmentPrefix = "COMPOSE_"

    /// Stamps every regular file directly in `directory` (compose files, override files, `.env`,
    /// label files beside them), and every file those compose files name elsewhere.
    public static func of(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> ComposeInputs {
        var seen: Set<String> = []
        var stamps: [Stamp] = []
        var pending: [(path: String, depth: Int)] = []

        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        for entry in entries {
            let path = directory + "/" + entry
            guard let stamp = stamp(path), stamp.size >= 0, isRegularFile(path) else { continue }
            seen.insert(path)
            stamps.append(stamp)
            if isComposeYAML(entry) { pending.append((path, 0)) }
        }
        for file in composeFilesFromDotEnv(directory: directory, environment: environment) where !seen.contains(file) {
            seen.insert(file)
            if let stamp = stamp(file) { stamps.append(stamp) }
            pending.append((file, 0))
        }
        while let (file, depth) = pending.popLast(), stamps.count < fileLimit {
            guard depth < 8 else { continue }
            let base = (file as NSString).deletingLastPathComponent
            for reference in references(in: file) {
                let path = absolute(reference, relativeTo: base)
                guard seen.insert(path).inserted, let stamp = stamp(path) else { continue }
                stamps.append(stamp)
                if stamp.size >= 0 { pending.append((path, depth + 1)) }
            }
        }
        let composeVariables = environment.filter { $0.key.hasPrefix(composeEnvironmentPrefix) }
        return ComposeInputs(files: stamps, environment: composeVariables)
    }

    static func isComposeYAML(_ name: String) -> Bool {
        (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) && (name.contains("compose") || name.contains("docker"))
    }

    private static func isRegularFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? Stamp(path: path, size: -1, modifiedNs: 0, inode: 0) : nil
        }
        let modified = Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec)
        return Stamp(path: path, size: Int64(info.st_size), modifiedNs: modified, inode: UInt64(info.st_ino))
    }

    private static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        return (joined as NSString).standardizingPath
    }

    /// `COMPOSE_FILE` from this process or from the directory's `.env`, as absolute paths.
    static func composeFilesFromDotEnv(directory: String, environment: [String: String]) -> [String] {
        var value = environment["COMPOSE_FILE"]
        if value == nil, let text = try? String(contentsOfFile: directory + "/.env", encoding: .utf8) {
            for line in text.split(whereSeparator: \.isNewline) {
                let trimmed = line.trimmedWhitespace
                guard trimmed.hasPrefix("COMPOSE_FILE=") else { continue }
                value = String(trimmed.dropFirst("COMPOSE_FILE=".count)).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
            }
        }
        let separator = environment["COMPOSE_PATH_SEPARATOR"] ?? ":"
        return (value ?? "").components(separatedBy: separator).filter { !$0.isEmpty }.map { absolute($0, relativeTo: directory) }
    }

    /// The paths a compose file names for compose to read: `include`, `extends.file`, `label_file`.
    /// Reads only those keys, so a file built to explode when expanded costs no more than its size.
    static func references(in file: String) -> [String] {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
              let size = attributes[.size] as? Int, size <= readLimit,
              let text = decode(FileManager.default.contents(atPath: file)),
              let documents = try? Yams.compose_all(yaml: text) else { return [] }
        var found: [String] = []
        for case let root? in documents {
            for item in root["include"].map(list) ?? [] {
                if let path = item.string { found.append(path) }
                if let mapping = item.mapping {
                    found += (mapping["path"].map(list) ?? []).compactMap(\.string)
                    found += (mapping["env_file"].map(list) ?? []).compactMap(\.string)
                }
            }
            guard let services = root["services"]?.mapping else { continue }
            for (_, service) in services {
                guard let service = service.mapping else { continue }
                if let file = service["extends"]?.mapping?["file"]?.string { found.append(file) }
                found += (service["label_file"].map(list) ?? []).compactMap(\.string)
            }
        }
        return found
    }

    /// UTF-8, or UTF-16 with its byte-order mark, as compose accepts both.
    private static func decode(_ data: Data?) -> String? {
        guard let data else { return nil }
        if data.starts(with: [0xFF, 0xFE]) || data.starts(with: [0xFE, 0xFF]) { return String(data: data, encoding: .utf16) }
        return String(data: data, encoding: .utf8)
    }

    /// A scalar or a sequence, as the sequence compose reads it as.
    private static func list(_ node: Node) -> [Node] {
        if let sequence = node.sequence { return Array(sequence) }
        return [node]
    }
}
