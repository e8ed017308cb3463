// The delta pass of a staging copy: how long it takes over many files with nothing, or a few,
// changed, which is what the apps' stop window costs for the copy and reflink methods.
// Prints figures; asserts nothing.
//
//   swift build -c release --product CaptureBenchmark
//   .build/release/CaptureBenchmark DIR [files] [changed] [--clone]
//
// DIR is where the data dir and its copy are made: put it on the file system to measure
// (ext4, an XFS or btrfs mount for --clone). It is emptied first and removed after.
import Capture
import Foundation

func seconds(_ duration: Duration) -> Double { duration / .seconds(1) }

let arguments = Array(CommandLine.arguments.dropFirst())
let numbers = arguments.compactMap { Int($0) }
guard let base = arguments.first(where: { Int($0) == nil && !$0.hasPrefix("--") }) else {
    print("usage: CaptureBenchmark DIR [files] [changed] [--clone]")
    exit(64)
}
let files = numbers.first ?? 100_000
let changed = numbers.dropFirst().first ?? 100
let clone = arguments.contains("--clone")
let root = base + "/felhom-capture-benchmark"
try? FileManager.default.removeItem(atPath: root)
let data = root + "/data"
try FileManager.default.createDirectory(atPath: root + "/captures", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])

// 4 KiB files, 500 to a directory, as a photo library's thumbnails or a mail store would be.
let block = Data(repeating: 0x61, count: 4096)
for index in 0..<files {
    let directory = data + "/d\(index / 500)"
    if index % 500 == 0 { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) }
    FileManager.default.createFile(atPath: directory + "/f\(index)", contents: block)
}
let kind = (try? FileSystemKind.of(data)).map { "\($0)" } ?? "?"
print("\(files) files of 4 KiB on \(kind), \(changed) changed before the delta pass, clone \(clone)")

let clock = ContinuousClock()
var copy = try StagingCopy(source: data, staging: root + "/captures/tree", clone: clone)
var started = clock.now
let full = try copy.fullPass()
let fullTime = started.duration(to: clock.now)
// Past the one-second racy window, so the idle delta pass shows the cost of the walk alone.
try await Task.sleep(for: .seconds(1.2))
started = clock.now
let idle = try copy.deltaPass()
let idleTime = started.duration(to: clock.now)
for index in stride(from: 0, to: files, by: max(1, files / max(1, changed))).prefix(changed) {
    FileManager.default.createFile(atPath: data + "/d\(index / 500)/f\(index)", contents: Data(repeating: 0x62, count: 4096))
}
started = clock.now
let delta = try copy.deltaPass()
let deltaTime = started.duration(to: clock.now)

print("pass                      wall s   paths   copied   reflinked   bytes")
func row(_ name: String, _ time: Duration, _ report: StagingCopy.PassReport) {
    print(name.padding(toLength: 24, withPad: " ", startingAt: 0)
          + String(format: "%8.3f %7d %8d %11d %7lld", seconds(time), report.paths, report.copied, report.cloned, report.bytes))
}
row("full (prepare)", fullTime, full)
row("delta, nothing changed", idleTime, idle)
row("delta, \(changed) changed", deltaTime, delta)
try? FileManager.default.removeItem(atPath: root)
