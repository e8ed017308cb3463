import Foundation

/// A fresh directory under /tmp, removed when the test is done with it.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(_ label: String = "felhom") throws {
        path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    public func write(_ relative: String, _ bytes: [UInt8]) throws {
        let url = URL(fileURLWithPath: "\(path)/\(relative)")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
    }
}

/// Incompressible bytes from the kernel, fast enough for tens of megabytes.
public func randomBytes(_ count: Int) -> [UInt8] {
    guard let random = FileHandle(forReadingAtPath: "/dev/urandom"),
          let data = try? random.read(upToCount: count), data.count == count else {
        fatalError("/dev/urandom is not readable")
    }
    try? random.close()
    return Array(data)
}
