import CurlHTTP

/// Why a call to the host agent failed.
///
/// Each case says what went wrong in terms an operator can act on; the quiesce
/// loop treats every one of them as "restart the stacks".
public enum AgentClientError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The URL is not https, or the pin is not `sha256//BASE64`.
    case invalidConfiguration(String)
    /// The agent's certificate does not carry the pinned public key; nothing was sent.
    case pinMismatch(url: String)
    /// No TCP connection: the agent is not listening there.
    case connectionRefused(url: String)
    /// The call ran past its connect or total timeout.
    case timedOut(url: String, detail: String)
    /// The agent answered with an error status and its error body.
    case http(status: Int, code: String, message: String)
    /// The agent's answer was over the client's size limit and was not read.
    case responseTooLarge(limit: Int)
    /// The agent's answer could not be decoded as the contract says.
    case invalidResponse(String)
    /// Any other transport failure, with libcurl's code and message.
    case transport(url: String, curlCode: Int, message: String)
    /// The calling task was cancelled and the transfer aborted.
    case cancelled

    public var description: String {
        switch self {
        case .invalidConfiguration(let detail):
            "agent client configuration: \(detail)"
        case .pinMismatch(let url):
            "the agent at \(url) presented a certificate whose public key does not match agent.pin_sha256; nothing was sent. Check the pin printed by `felhom-agent init`"
        case .connectionRefused(let url):
            "could not connect to the agent at \(url); is felhom-agent running and listening there?"
        case .timedOut(let url, let detail):
            "the agent at \(url) did not answer in time (\(detail))"
        case .http(let status, let code, let message):
            "the agent answered \(status) \(code): \(message)"
        case .responseTooLarge(let limit):
            "the agent's answer was larger than \(limit) bytes and was dropped"
        case .invalidResponse(let detail):
            "the agent's answer did not match the contract: \(detail)"
        case .transport(let url, let curlCode, let message):
            "calling the agent at \(url) failed (curl error \(curlCode)): \(message)"
        case .cancelled:
            "the call to the agent was cancelled"
        }
    }

    /// The HTTP status, when the agent answered with an error.
    public var httpStatus: Int? {
        if case .http(let status, _, _) = self { status } else { nil }
    }
}

extension AgentClientError {
    /// A transfer that got no answer, said of the agent at `url`.
    init(_ failure: CurlFailure, url: String) {
        self = switch failure {
        case .pinMismatch: .pinMismatch(url: url)
        case .connectionRefused: .connectionRefused(url: url)
        case .timedOut(let detail): .timedOut(url: url, detail: detail)
        case .responseTooLarge(let limit): .responseTooLarge(limit: limit)
        case .cancelled: .cancelled
        case .untrustedCertificate(let message): .transport(url: url, curlCode: 60, message: message)
        case .transport(let code, let message): .transport(url: url, curlCode: code, message: message)
        }
    }
}
