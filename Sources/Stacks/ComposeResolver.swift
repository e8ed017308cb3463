import Foundation

/// Asks compose what each stack directory is, with a timeout and a memory bound per directory,
/// and keeps the answers in a ``ComposeResolutionCache`` while their inputs are unchanged.
///
/// A directory compose cannot resolve gets its message as a ``ComposeFileError``; the other
/// directories are unaffected, so one bad file cannot block the list, the API or a backup.
public struct ComposeResolver: Sendable {
    /// Builds the `compose config` command, with its timeout and memory bound.
    public var commands: DockerCommands
    /// Runs it; the seam the unit tests replace.
    public var runner: any CommandRunner
    /// `nil`: resolve every time, keep nothing.
    public var cache: ComposeResolutionCache?
    /// How many compose processes resolve at once; each is a short, CPU-bound Go program.
    public var width: Int
    /// How long a failed resolution is remembered before compose is asked again, while the files stay as they were.
    public static let failureRetry: TimeInterval = 600

    public init(commands: DockerCommands, runner: any CommandRunner, cache: ComposeResolutionCache?, width: Int = 4) {
        self.commands = commands
        self.runner = runner
        self.cache = cache
        self.width = max(1, width)
    }

    /// Each directory's project, by directory path.
    public func resolve(_ directories: [StackDirectory]) async -> [String: Result<ComposeProject, ComposeFileError>] {
        let cached = cache?.load() ?? [:]
        let now = Date()
        var entries: [String: ComposeResolutionCache.Entry] = [:]
        var results: [String: Result<ComposeProject, ComposeFileError>] = [:]
        var pending: [(StackDirectory, ComposeInputs)] = []
        for directory in directories {
            let inputs = ComposeInputs.of(directory: directory.path)
            if inputs.complete, let entry = cached[directory.path], entry.inputs == inputs, entry.retryAfter.map({ now < $0 }) ?? true {
                entries[directory.path] = entry
                results[directory.path] = entry.result
            } else {
                pending.append((directory, inputs))
            }
        }

        let resolved = await withTaskGroup(of: (String, ComposeInputs, Outcome).self) { group in
            var next = 0
            var collected: [(String, ComposeInputs, Outcome)] = []
            func launch() {
                guard next < pending.count else { return }
                let (directory, inputs) = pending[next]
                next += 1
                group.addTask { (directory.path, inputs, await resolveOne(directory)) }
            }
            for _ in 0..<min(width, pending.count) { launch() }
            while let done = await group.next() {
                collected.append(done)
                launch()
            }
            return collected
        }

        for (path, inputs, outcome) in resolved {
            results[path] = outcome.result
            switch outcome {
            case .resolved(let project):
                entries[path] = .init(inputs: inputs, project: project, error: nil, retryAfter: nil)
            case .refused(let error), .timedOut(let error):
                // Until the files change, or a while has passed: the failure may be docker's, not the files'.
                entries[path] = .init(inputs: inputs, project: nil, error: error, retryAfter: now.addingTimeInterval(Self.failureRetry))
            case .notAsked:
                break  // docker could not be started: nothing about the file is known
            }
        }
        if let cache, entries != cached {
            cache.save(entries)
        }
        return results
    }

    private enum Outcome: Sendable {
        case resolved(ComposeProject)
        /// Compose ran and rejected the files, or was killed.
        case refused(ComposeFileError)
        case timedOut(ComposeFileError)
        case notAsked(ComposeFileError)

        var result: Result<ComposeProject, ComposeFileError> {
            switch self {
            case .resolved(let project): .success(project)
            case .refused(let error), .timedOut(let error), .notAsked(let error): .failure(error)
            }
        }
    }

    private func resolveOne(_ directory: StackDirectory) async -> Outcome {
        let command = commands.resolveConfig(directory: directory.path)
        let output: CommandOutput
        do {
            output = try await runner.run(command)
        } catch .timedOut(let after, let stderr) {
            return .timedOut(ComposeFileError(
                path: directory.path,
                message: "compose did not resolve the files within \(after) and was killed; simplify them (YAML anchors that expand without bound do this) \(stderr)"))
        } catch {
            return .notAsked(ComposeFileError(path: directory.path, message: "compose could not be run: \(error)"))
        }
        guard output.succeeded else {
            let said = output.standardError.split(whereSeparator: \.isNewline).prefix(8).joined(separator: "\n").trimmedWhitespace
            let bound = "\(commands.settings.resolveMemoryBytes >> 20) MiB"
            let message = output.standardError.contains("out of memory") || output.exitCode == nil
                ? "compose passed its memory bound of \(bound) while resolving the files and was stopped; simplify them"
                : said.isEmpty ? "compose exited \(output.exitCode ?? -1) without a message" : said
            return .refused(ComposeFileError(path: directory.path, message: message))
        }
        do {
            return .resolved(try ComposeProject.parse(configJSON: output.standardOutput, path: directory.path))
        } catch {
            return .refused(error)
        }
    }
}
