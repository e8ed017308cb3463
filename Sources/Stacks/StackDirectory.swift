import Foundation

/// A subdirectory of `stacks_dir` that holds a compose file.
public struct StackDirectory: Sendable, Equatable {
    /// The file names compose looks for, in the order it prefers them.
    public static let composeFileNames = ["compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"]

    /// The directory's name, which may not be a valid ``StackName``; compose's project name may differ.
    public var directoryName: String
    public var path: String
    /// The first compose file compose would find here; it may read more (override files, `COMPOSE_FILE`).
    public var composeFile: String

    public init(directoryName: String, path: String, composeFile: String) {
        self.directoryName = directoryName
        self.path = path
        self.composeFile = composeFile
    }

    /// Every stack directory under `stacksDirectory`, sorted by name.
    ///
    /// Subdirectories without a compose file (by a default name, or named by `COMPOSE_FILE` in
    /// their `.env`) are not stacks and are left out.
    /// - Throws: ``StackError`` when `stacksDirectory` cannot be read.
    public static func discover(in stacksDirectory: String) throws(StackError) -> [StackDirectory] {
        let fileManager = FileManager.default
        let entries: [String]
        do {
            entries = try fileManager.contentsOfDirectory(atPath: stacksDirectory)
        } catch {
            throw StackError(code: .localStateUnusable, detail: "cannot read stacks_dir \(stacksDirectory): \(error.localizedDescription)")
        }
        return entries.sorted().compactMap { entry in
            find(named: entry, in: stacksDirectory)
        }
    }

    /// The stack directory called `name`, or `nil` when it is missing or has no compose file.
    public static func find(named name: String, in stacksDirectory: String) -> StackDirectory? {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else { return nil }
        let path = stacksDirectory.hasSuffix("/") ? stacksDirectory + name : stacksDirectory + "/" + name
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { return nil }
        for file in composeFileNames {
            let candidate = path + "/" + file
            if FileManager.default.fileExists(atPath: candidate) {
                return StackDirectory(directoryName: name, path: path, composeFile: candidate)
            }
        }
        // No file by a default name, but `.env` names the files with COMPOSE_FILE, which compose follows too.
        if let named = ComposeInputs.composeFilesFromDotEnv(directory: path, environment: [:]).first,
           FileManager.default.fileExists(atPath: named) {
            return StackDirectory(directoryName: name, path: path, composeFile: named)
        }
        return nil
    }
}

/// A stack whose directory is in `stacks_dir` and whose project name, as compose resolves it, is
/// valid and its own: the only kind docker is asked to operate.
public struct ManagedStack: Sendable, Equatable {
    public var name: StackName
    public var directory: String
    public var composeFile: String

    public init(name: StackName, directory: String, composeFile: String) {
        self.name = name
        self.directory = directory
        self.composeFile = composeFile
    }
}
