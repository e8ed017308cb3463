import Crypto

/// Reads a POSIX (pax) tar stream as it passes by and records every entry,
/// hashing each regular file's content on the way.
///
/// This is how the manifest describes exactly what went into the archive:
/// the bytes hashed are the bytes tar wrote, read once.
struct TarStreamReader {
    struct Entries {
        var files: [BackupManifest.File] = []
        var directories: [String] = []
        var symlinks: [BackupManifest.Symlink] = []
    }

    private enum State {
        case header
        case content(path: String, remaining: Int64, hasher: SHA256, size: Int64)
        /// A pax extended header ('x'), a GNU long name ('L') or long link ('K'), collected whole.
        case metadata(kind: UInt8, remaining: Int, collected: [UInt8])
        case skipping(remaining: Int64)
        case padding(remaining: Int)
        case ended
    }

    private static let blockSize = 512
    /// No legitimate metadata record comes near this; a larger one means a corrupt stream.
    private static let metadataLimit = 1 << 20

    private var state = State.header
    private var headerBuffer: [UInt8] = []
    private var pendingPath: String?
    private var pendingLinkPath: String?
    private var pendingSize: Int64?
    private var filesByPath: [String: BackupManifest.File] = [:]
    private(set) var entries = Entries()
    /// File content bytes read so far, the measure of progress.
    private(set) var contentBytes: Int64 = 0

    /// Whether the two zero blocks that end an archive have been seen.
    var isComplete: Bool { if case .ended = state { true } else { false } }

    mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(TarStreamError) {
        var offset = 0
        while offset < bytes.count {
            let available = bytes.count - offset
            switch state {
            case .ended:
                return  // tar pads the stream to a record boundary with zeros
            case .header:
                let take = min(Self.blockSize - headerBuffer.count, available)
                headerBuffer.append(contentsOf: bytes[offset..<offset + take])
                offset += take
                if headerBuffer.count == Self.blockSize {
                    let block = headerBuffer
                    headerBuffer.removeAll(keepingCapacity: true)
                    try readHeader(block)
                }
            case .content(let path, let remaining, var hasher, let size):
                let take = Int(min(Int64(available), remaining))
                hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
                offset += take
                contentBytes += Int64(take)
                if remaining == Int64(take) {
                    let digest = hexString(hasher.finalize())
                    record(BackupManifest.File(path: path, size: size, sha256: digest))
                    state = Self.padding(after: size)
                } else {
                    state = .content(path: path, remaining: remaining - Int64(take), hasher: hasher, size: size)
                }
            case .metadata(let kind, let remaining, var collected):
                let take = min(available, remaining)
                collected.append(contentsOf: bytes[offset..<offset + take])
                offset += take
                if take == remaining {
                    try applyMetadata(kind: kind, collected)
                    state = Self.padding(after: Int64(collected.count))
                } else {
                    state = .metadata(kind: kind, remaining: remaining - take, collected: collected)
                }
            case .skipping(let remaining):
                let take = Int(min(Int64(available), remaining))
                offset += take
                state = remaining == Int64(take) ? .header : .skipping(remaining: remaining - Int64(take))
            case .padding(let remaining):
                let take = min(available, remaining)
                offset += take
                state = take == remaining ? .header : .padding(remaining: remaining - take)
            }
        }
    }

    private static func padding(after size: Int64) -> State {
        let rest = Int(size % Int64(blockSize))
        return rest == 0 ? .header : .padding(remaining: blockSize - rest)
    }

    private var sawZeroBlock = false

    private mutating func readHeader(_ block: [UInt8]) throws(TarStreamError) {
        if block.allSatisfy({ $0 == 0 }) {
            if sawZeroBlock { state = .ended }
            sawZeroBlock = true
            return
        }
        sawZeroBlock = false
        guard Self.checksumMatches(block) else { throw .corrupt("a header's checksum does not match") }

        let type = block[156]
        let headerSize = try Self.size(block)
        let size = pendingSize ?? headerSize
        switch type {
        case UInt8(ascii: "x"), UInt8(ascii: "L"), UInt8(ascii: "K"):
            guard headerSize <= Self.metadataLimit else { throw .corrupt("a metadata record of \(headerSize) bytes") }
            state = headerSize == 0 ? .header : .metadata(kind: type, remaining: Int(headerSize), collected: [])
            return
        case UInt8(ascii: "g"):
            state = headerSize == 0 ? .header : .skipping(remaining: Self.paddedSize(headerSize))
            return
        default:
            break
        }

        let path = Self.normalize(pendingPath ?? Self.headerPath(block))
        let linkPath = pendingLinkPath ?? Self.string(block[157..<257])
        pendingPath = nil
        pendingLinkPath = nil
        pendingSize = nil

        switch type {
        case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
            if size == 0 {
                record(BackupManifest.File(path: path, size: 0, sha256: Self.emptyDigest))
                state = .header
            } else {
                state = .content(path: path, remaining: size, hasher: SHA256(), size: size)
            }
        case UInt8(ascii: "1"):
            guard let target = filesByPath[Self.normalize(linkPath)] else {
                throw .corrupt("hard link \(path) points at \(linkPath), which the archive has not shown")
            }
            record(BackupManifest.File(path: path, size: target.size, sha256: target.sha256))
            state = .header
        case UInt8(ascii: "5"):
            if !path.isEmpty { entries.directories.append(path) }
            state = size == 0 ? .header : .skipping(remaining: Self.paddedSize(size))
        case UInt8(ascii: "2"):
            entries.symlinks.append(BackupManifest.Symlink(path: path, target: linkPath))
            state = .header
        default:
            // Devices and FIFOs carry no content worth a checksum.
            state = size == 0 ? .header : .skipping(remaining: Self.paddedSize(size))
        }
    }

    private mutating func record(_ file: BackupManifest.File) {
        filesByPath[file.path] = file
        entries.files.append(file)
    }

    private mutating func applyMetadata(kind: UInt8, _ data: [UInt8]) throws(TarStreamError) {
        switch kind {
        case UInt8(ascii: "L"):
            pendingPath = Self.string(data[...])
        case UInt8(ascii: "K"):
            pendingLinkPath = Self.string(data[...])
        default:
            for (key, value) in try Self.paxRecords(data) {
                switch key {
                case "path": pendingPath = value
                case "linkpath": pendingLinkPath = value
                case "size":
                    guard let size = Int64(value), size >= 0 else { throw .corrupt("pax size \(value)") }
                    pendingSize = size
                default: break
                }
            }
        }
    }

    /// Pax records are `LENGTH KEY=VALUE\n`, where LENGTH counts the whole record.
    private static func paxRecords(_ data: [UInt8]) throws(TarStreamError) -> [(String, String)] {
        var records: [(String, String)] = []
        var index = 0
        while index < data.count {
            guard let space = data[index...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: data[index..<space], as: UTF8.self)),
                  length > 0, index + length <= data.count else {
                throw .corrupt("a pax record is malformed")
            }
            let record = data[(space + 1)..<(index + length - 1)]
            guard let equals = record.firstIndex(of: UInt8(ascii: "=")) else { throw .corrupt("a pax record has no '='") }
            records.append((String(decoding: record[..<equals], as: UTF8.self),
                            String(decoding: record[(equals + 1)...], as: UTF8.self)))
            index += length
        }
        return records
    }

    private static let emptyDigest = hexString(SHA256.hash(data: [UInt8]()))

    private static func paddedSize(_ size: Int64) -> Int64 {
        (size + Int64(blockSize) - 1) / Int64(blockSize) * Int64(blockSize)
    }

    private static func headerPath(_ block: [UInt8]) -> String {
        let name = string(block[0..<100])
        let isUstar = block[257..<262].elementsEqual("ustar".utf8)
        let prefix = isUstar ? string(block[345..<500]) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    /// `./a/b/` as tar writes it becomes `a/b`; the archive root itself becomes "".
    static func normalize(_ path: String) -> String {
        var result = Substring(path)
        while result.hasPrefix("./") { result = result.dropFirst(2) }
        if result == "." { return "" }
        while result.hasSuffix("/") { result = result.dropLast() }
        return String(result)
    }

    private static func string(_ bytes: ArraySlice<UInt8>) -> String {
        let end = bytes.firstIndex(of: 0) ?? bytes.endIndex
        return String(decoding: bytes[bytes.startIndex..<end], as: UTF8.self)
    }

    private static func size(_ block: [UInt8]) throws(TarStreamError) -> Int64 {
        let field = block[124..<136]
        if field.first! & 0x80 != 0 {
            // GNU base-256 for sizes that do not fit in 11 octal digits.
            return field.dropFirst().reduce(Int64(field.first! & 0x7f)) { $0 << 8 | Int64($1) }
        }
        let digits = string(field).trimmingCharacters(in: " ")
        if digits.isEmpty { return 0 }
        guard let value = Int64(digits, radix: 8) else { throw .corrupt("a size field reads \(digits)") }
        return value
    }

    private static func checksumMatches(_ block: [UInt8]) -> Bool {
        let digits = string(block[148..<156]).trimmingCharacters(in: " ")
        guard let stored = Int(digits, radix: 8) else { return false }
        var sum = 0
        for (index, byte) in block.enumerated() {
            sum += (148..<156).contains(index) ? 32 : Int(byte)
        }
        return sum == stored
    }
}

/// The tar stream did not parse; the archive it came with must not be kept.
enum TarStreamError: Error, Sendable, CustomStringConvertible {
    case corrupt(String)

    var description: String {
        switch self {
        case .corrupt(let detail): "the tar stream is not a valid archive: \(detail)"
        }
    }
}

private extension String {
    func trimmingCharacters(in character: Character) -> String {
        String(drop { $0 == character }.reversed().drop { $0 == character }.reversed())
    }
}
