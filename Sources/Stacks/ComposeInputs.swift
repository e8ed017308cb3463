import Foundation
import Yams

/// The files and settings that feed compose's resolution of one stack directory, stamped so
/// that a cached resolution is reused only while none of them has changed.
///
/// This is the one place the controller still reads compose YAML itself, and only to name
/// files: `include:`, `extends: {file:}` and `label_file:` can point anywhere, including
/// outside the stack's directory. Compose remains the authority on what the files mean; where
/// this reading cannot name everything, the inputs say so (``complete``) and nothing is cached.
public struct ComposeInputs: Codable, Sendable, Equatable {
    /// One file's identity and change stamp; `size == -1` for a file that does not exist.
    public struct Stamp: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var modifiedNs: Int64
        /// ctime, which no writer can set back: it catches an edit that restores mtime (`cp -p`, `touch -r`).
        public var changedNs: Int64
        public var device: UInt64
        public var inode: UInt64
    }

    public var files: [Stamp]
    /// A digest of this process's whole environment, which compose interpolates from as well as `.env`.
    public var environmentDigest: UInt64
    /// `false` when something that may feed compose could not be named: too many files, a compose
    /// file too large or unreadable to follow, or a reference built by interpolation. A cached
    /// resolution is then never reused.
    public var complete: Bool

    /// The most files one stack may name before it counts as incomplete.
    static let fileLimit = 256
    /// Compose files larger than this are stamped but not followed, and make the inputs incomplete.
    static let readLimit = 1 << 20
    /// The files compose reads in a directory without being told: its default file names, the
    /// override files, and `.env`. Stamped whether or not they exist, so a new one is a change.
    static let implicitFiles = [
        "compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml",
        "compose.override.yaml", "compose.override.yml", "docker-compose.override.yaml", "docker-compose.override.yml", ".env",
    ]

    /// Stamps what compose reads for `directory`: the implicit files, `COMPOSE_FILE`'s files, and
    /// every file those name through `include:`, `extends.file` and `label_file:`, with the `.env`
    /// beside each. The app's own files in the directory are not inputs, so they never invalidate.
    public static func of(directory: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> ComposeInputs {
        var seen: Set<String> = []
        var stamps: [Stamp] = []
        var complete = true
        var pending: [(path: String, depth: Int)] = []
        func add(_ path: String, follow: Bool, depth: Int) {
            guard seen.insert(path).inserted else { return }
            guard stamps.count < fileLimit else { complete = false; return }
            guard let stamp = stamp(path) else { complete = false; return }
            stamps.append(stamp)
            if follow, stamp.size >= 0 { pending.append((path, depth)) }
        }
        for name in implicitFiles { add(directory + "/" + name, follow: name != ".env", depth: 0) }
        for file in composeFilesFromDotEnv(directory: directory, environment: environment) { add(file, follow: true, depth: 0) }
        while let (file, depth) = pending.popLast() {
            guard depth < 8, let found = references(in: file) else { complete = false; continue }
            let base = (file as NSString).deletingLastPathComponent
            for reference in found {
                // A path compose builds by interpolation cannot be named here.
                guard !reference.path.contains("$") else { complete = false; continue }
                let path = absolute(reference.path, relativeTo: base)
                add(path, follow: reference.isCompose, depth: depth + 1)
                add((path as NSString).deletingLastPathComponent + "/.env", follow: false, depth: depth + 1)
            }
        }
        return ComposeInputs(files: stamps, environmentDigest: digest(environment), complete: complete)
    }

    /// FNV-1a over the sorted `name=value` lines: a cache key, not a secret's hash, and the
    /// values themselves never reach the cache file.
    static func digest(_ environment: [String: String]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for (name, value) in environment.sorted(by: { $0.key < $1.key }) {
            for byte in "\(name)=\(value)\n".utf8 {
                hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            }
        }
        return hash
    }

    static func stamp(_ path: String) -> Stamp? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT || errno == ENOTDIR ? Stamp(path: path, size: -1, modifiedNs: 0, changedNs: 0, device: 0, inode: 0) : nil
        }
        return Stamp(
            path: path, size: Int64(info.st_size),
            modifiedNs: Int64(info.st_mtim.tv_sec) * 1_000_000_000 + Int64(info.st_mtim.tv_nsec),
            changedNs: Int64(info.st_ctim.tv_sec) * 1_000_000_000 + Int64(info.st_ctim.tv_nsec),
            device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
    }

    private static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : base + "/" + path
        return (joined as NSString).standardizingPath
    }

    /// `name`'s value in the directory's `.env`, unquoted; the last assignment wins, as in compose.
    static func dotEnvValue(_ name: String, directory: String) -> String? {
        guard let text = try? String(contentsOfFile: directory + "/.env", encoding: .utf8) else { return nil }
        var value: String?
        for line in text.split(whereSeparator: \.isNewline) {
            let trimmed = line.trimmedWhitespace
            guard trimmed.hasPrefix(name + "=") else { continue }
            value = String(trimmed.dropFirst(name.count + 1)).trimmingCharacters(in: CharacterSet(charactersIn: "\"'"))
        }
        return value
    }

    /// `COMPOSE_FILE` from this process or from the directory's `.env`, as absolute paths.
    static func composeFilesFromDotEnv(directory: String, environment: [String: String]) -> [String] {
        let value = environment["COMPOSE_FILE"] ?? dotEnvValue("COMPOSE_FILE", directory: directory)
        let separator = environment["COMPOSE_PATH_SEPARATOR"] ?? dotEnvValue("COMPOSE_PATH_SEPARATOR", directory: directory) ?? ":"
        return (value ?? "").components(separatedBy: separator).filter { !$0.isEmpty }.map { absolute($0, relativeTo: directory) }
    }

    /// A file a compose file names; `isCompose` when compose reads it as compose YAML (which may name more).
    struct Reference: Equatable {
        var path: String
        var isCompose: Bool
    }

    /// The paths a compose file names for compose to read: `include`, `extends.file`, `label_file`;
    /// `nil` when the file cannot be followed (too large, not text, not YAML).
    /// Reads only those keys, so a file built to explode when expanded costs no more than its size.
    static func references(in file: String) -> [Reference]? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: file),
              let size = attributes[.size] as? Int, size <= readLimit,
              let text = decode(FileManager.default.contents(atPath: file)) else { return nil }
        var found: [Reference] = []
        // A value where a path belongs that is not one: compose reads something this cannot name.
        func paths(_ node: Node?, compose: Bool) -> Bool {
            for item in node.map(list) ?? [] {
                guard let path = item.string else { return false }
                found.append(Reference(path: path, isCompose: compose))
            }
            return true
        }
        do {
            // Document by document, so a syntax error anywhere is seen rather than ending the reading early.
            let parser = try Parser(yaml: text)
            while let root = try parser.nextRoot() {
                for item in root["include"].map(list) ?? [] {
                    if let mapping = item.mapping {
                        guard paths(mapping["path"], compose: true), paths(mapping["env_file"], compose: false),
                              paths(mapping["project_directory"].map { Node(($0.string ?? "$") + "/.env") }, compose: false) else { return nil }
                    } else if !paths(item, compose: true) {
                        return nil
                    }
                }
                guard let services = root["services"]?.mapping else { continue }
                for (_, service) in services {
                    guard let service = service.mapping else { continue }
                    if let extends = service["extends"]?.mapping, !paths(extends["file"], compose: true) { return nil }
                    if !paths(service["label_file"], compose: false) { return nil }
                }
            }
        } catch {
            return nil
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
