import Crypto

/// Per-guest bearer tokens: 256 random bits, shown once, stored only as SHA-256.
public enum GuestToken {
    /// A new token: `fhg_` and 32 random bytes in base64url.
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
        return "fhg_" + base64URL(bytes)
    }

    /// The digest stored in place of the token.
    public static func digest(_ token: String) -> String {
        hexString(SHA256.hash(data: Array(token.utf8)))
    }

    /// Compares two digests in time that does not depend on where they differ.
    public static func digestsMatch(_ left: String, _ right: String) -> Bool {
        let a = Array(left.utf8), b = Array(right.utf8)
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }

    private static func base64URL(_ bytes: [UInt8]) -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var output: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for byte in chunk { value = value << 8 | Int(byte) }
            value <<= (3 - chunk.count) * 8
            for position in 0..<(chunk.count + 1) {
                output.append(alphabet[(value >> (18 - 6 * position)) & 0x3f])
            }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }
}
