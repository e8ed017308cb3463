import ArgumentParser
import CommandLineSupport
import NIOCore
import NIOPosix

/// `felhom-controller health`: asks the running controller's `/healthz`, for the image's `HEALTHCHECK`.
///
/// The address comes from the same config the daemon reads, so a port changed
/// there cannot leave the health check probing the old one.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Exit 0 when the customer API's /healthz answers 200; for container health checks.")

    @OptionGroup var options: GlobalOptions

    @Option(help: "How long to wait for the answer, in seconds.")
    var timeout: Double = 5

    func run() async throws {
        try await reportingFailures {
            let config = try options.loadConfig()
            guard let api = config.api else {
                throw CommandFailure(message: "the config has no `api` section, so there is no /healthz to ask", exitCode: CommandFailure.configExitCode)
            }
            let host = HealthProbe.loopbackFor(listenHost: api.host)
            let statusLine: String
            do {
                statusLine = try await HealthProbe(host: host, port: api.port, timeout: .milliseconds(Int64(timeout * 1000))).statusLine()
            } catch {
                throw CommandFailure(message: "GET http://\(host):\(api.port)/healthz failed: \(error)")
            }
            guard statusLine.split(separator: " ").dropFirst().first == "200" else {
                throw CommandFailure(message: "GET http://\(host):\(api.port)/healthz answered \(statusLine)")
            }
            print(statusLine)
        }
    }
}

/// One plain HTTP/1.1 GET of `/healthz`, reading only the status line.
struct HealthProbe {
    var host: String
    var port: Int
    var timeout: Duration

    /// A wildcard listen address is probed on loopback, which it includes.
    static func loopbackFor(listenHost: String) -> String {
        switch listenHost {
        case "0.0.0.0", "": "127.0.0.1"
        case "::", "[::]": "::1"
        default: listenHost
        }
    }

    struct TimedOut: Error, CustomStringConvertible {
        var timeout: Duration
        var description: String { "no answer within \(timeout)" }
    }

    struct NoStatusLine: Error, CustomStringConvertible {
        var description: String { "the connection closed before a status line" }
    }

    func statusLine() async throws -> String {
        try await withThrowingTaskGroup(of: String.self) { group in
            group.addTask { try await exchange() }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw TimedOut(timeout: timeout)
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }

    private func exchange() async throws -> String {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connectTimeout(TimeAmount(timeout))
            .connect(host: host, port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                }
            }
        return try await channel.executeThenClose { inbound, outbound in
            let hostHeader = host.contains(":") ? "[\(host)]" : host
            try await outbound.write(ByteBuffer(string: "GET /healthz HTTP/1.1\r\nHost: \(hostHeader):\(port)\r\nConnection: close\r\n\r\n"))
            var received = ByteBuffer()
            for try await var chunk in inbound {
                received.writeBuffer(&chunk)
                if let text = received.getString(at: received.readerIndex, length: received.readableBytes),
                   let end = text.firstRange(of: "\r\n") {
                    return String(text[..<end.lowerBound])
                }
                // A status line is short; anything longer is not an HTTP server.
                if received.readableBytes > 4096 { break }
            }
            throw NoStatusLine()
        }
    }
}
