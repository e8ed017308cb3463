import ArgumentParser
import CommandLineSupport
import DurableFiles
import Foundation
import HostAgent
import Logging

/// `felhom-agent init`: the TLS key and certificate, and the pin to give controllers.
struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Generate the agent's TLS key and self-signed certificate and print the pin.",
        discussion: "--json prints {\"pin\", \"certificate\", \"key\"}. An existing key is kept unless --force is given."
    )

    @OptionGroup var options: AgentOptions
    @Option(name: .customLong("hostname"), help: "An extra DNS name for the certificate (repeatable).")
    var hostnames: [String] = []
    @Flag(name: .long, help: "Replace an existing key; every controller then needs the new pin.")
    var force = false

    struct Output: Encodable {
        var pin: String
        var certificate: String
        var key: String
    }

    func run() async throws {
        try await reportingFailures {
            let configuration = try options.loadConfig()
            let identity = configuration.identity
            let pin: String
            do {
                for change in try PrivateState.prepareDirectory(configuration.stateDirectory) {
                    Logger(label: "felhom-agent").notice("tightened the mode of private state", metadata: ["change": "\(change)"])
                }
                pin = try identity.generate(hostnames: hostnames, force: force)
            } catch {
                throw CommandFailure(message: "\(error)")
            }
            try options.emit(
                Output(pin: pin, certificate: identity.certificatePath, key: identity.keyPath),
                text: "pin: \(pin)\ncertificate: \(identity.certificatePath)\nkey: \(identity.keyPath)")
        }
    }
}
