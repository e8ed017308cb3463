import Foundation
import Yams

/// A node of a config file's YAML tree; modules that read config sections name it without importing Yams.
public typealias ConfigNode = Node

/// Reading a YAML config file into a node tree, with errors that name the file.
public enum ConfigFile {
    /// The text of the file at `path`.
    public static func read(path: String) throws(ConfigError) -> String {
        do {
            return try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigError(path: path, key: nil, message: "cannot read the config file: \(error.localizedDescription)")
        }
    }

    /// The root node of config YAML; `path` only names the file in errors.
    public static func root(of text: String, path: String) throws(ConfigError) -> Node {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigError(path: path, key: nil, message: "not valid YAML: \(error)")
        }
        guard let root else { throw ConfigError(path: path, key: nil, message: "the file is empty") }
        return root
    }
}
