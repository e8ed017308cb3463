import Foundation

/// The JSON conventions of the agent API, shared by the agent and the controller.
///
/// Keys are snake_case and spelled out in each type's `CodingKeys`; times are
/// RFC 3339 in UTC; an absent optional value is written as `null`, never left out.
public enum AgentJSON {
    /// An encoder with sorted keys and RFC 3339 dates.
    public static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return encoder
    }

    /// A decoder that reads RFC 3339 dates.
    public static func decoder() -> JSONDecoder {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }
}
