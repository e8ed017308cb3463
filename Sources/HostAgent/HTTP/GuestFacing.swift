import AgentAPI
import Foundation

/// Text the agent sends to a guest, with the host's paths taken out.
///
/// A guest has no business knowing where its data lives on the host, and a message from tar,
/// the filesystem or the journal often names it. The full text stays in the agent's log and
/// journal, where the operator reads it.
enum GuestFacing {
    static let placeholder = "<host path>"

    /// `text` with every absolute path replaced by ``placeholder``.
    ///
    /// A path starts with `/` at the start of the text or after a space, a quote, `=`, `(`, `[`, `{`,
    /// `<` or `:`, and runs to the next space, quote, bracket or `,`; a trailing `.`, `:` or `;`
    /// stays outside it. A `file://` URL is a path too. A path with spaces loses only its first word.
    static func redact(_ text: String) -> String {
        let text = text.replacingOccurrences(of: "file://", with: "")
        let starts: Set<Character> = [" ", "\t", "\n", "\"", "'", "=", "(", "[", "{", "<", ":", "`", "\u{201C}", "\u{2018}"]
        let ends: Set<Character> = [" ", "\t", "\n", "\"", "'", ")", "]", "}", ">", ",", "`", "\u{201D}", "\u{2019}"]
        let trailing: Set<Character> = [".", ":", ";"]
        var result = ""
        var index = text.startIndex
        var previous: Character?
        while index < text.endIndex {
            let character = text[index]
            let next = text.index(after: index)
            let startsPath = character == "/" && (previous.map(starts.contains) ?? true)
                && next < text.endIndex && !ends.contains(text[next]) && text[next] != "/"
            guard startsPath else {
                result.append(character)
                previous = character
                index = next
                continue
            }
            var end = next
            while end < text.endIndex, !ends.contains(text[end]) { end = text.index(after: end) }
            var pathEnd = end
            while pathEnd > next, trailing.contains(text[text.index(before: pathEnd)]) { pathEnd = text.index(before: pathEnd) }
            result += placeholder
            result += text[pathEnd..<end]
            previous = end > text.startIndex ? text[text.index(before: end)] : nil
            index = end
        }
        return result
    }
}

extension BackupStatus {
    var forGuest: BackupStatus {
        var copy = self
        copy.error = error.map(GuestFacing.redact)
        return copy
    }
}

extension RollbackStatus {
    var forGuest: RollbackStatus {
        var copy = self
        copy.error = error.map(GuestFacing.redact)
        return copy
    }
}

extension RestoreTestStatus {
    var forGuest: RestoreTestStatus {
        var copy = self
        copy.checks = checks.map { check in
            var check = check
            check.detail = GuestFacing.redact(check.detail)
            return check
        }
        return copy
    }
}
