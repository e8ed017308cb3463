import HTTPTypes
import Hummingbird
import NIOCore

/// An API failure as pve-http-server sends it: the first line of the message is the HTTP reason phrase,
/// and (since libpve-http-server-perl 5.2.0) the message is also in the JSON body.
struct ProxmoxError: Error, Sendable {
    var status: Int
    /// Without the trailing newline that PVE's `die` messages carry; the body adds it.
    var message: String
    /// The 400 `errors` map: parameter name to message.
    var errors: [(String, String)] = []

    /// A plain `die` in a handler.
    static func server(_ message: String) -> ProxmoxError {
        ProxmoxError(status: 500, message: message)
    }

    /// `raise_param_exc`: 400 "Parameter verification failed." with the per-parameter messages.
    static func parameters(_ errors: [(String, String)]) -> ProxmoxError {
        ProxmoxError(status: 400, message: "Parameter verification failed.", errors: errors)
    }

    static func parameter(_ name: String, _ message: String) -> ProxmoxError {
        parameters([(name, message)])
    }

    /// The reason phrase: the message's first line.
    var reasonPhrase: String {
        String(message.split(separator: "\n", omittingEmptySubsequences: false).first ?? "")
    }

    var response: Response {
        var members: [(String, JSONValue)] = [("data", .null)]
        if !errors.isEmpty {
            members.append(("errors", .object(errors.map { ($0.0, .string($0.1 + "\n")) })))
        }
        members.append(("message", .string(message + "\n")))
        return Response(
            status: .init(code: status, reasonPhrase: reasonPhrase),
            headers: [.contentType: "application/json;charset=UTF-8", Self.reasonField: reasonPhrase],
            body: .init(byteBuffer: ByteBuffer(string: JSONValue.object(members).serialized)))
    }

    /// A 401 as pveproxy sends it, which does not go through the JSON formatter.
    ///
    /// Unsure: the research says the body is empty on old hosts and "plain text on new ones" without quoting it;
    /// the fake sends the message as text/plain. Real pveproxy also delays every 401 by about 3 s; the fake does not.
    static func unauthorized(_ message: String) -> Response {
        Response(
            status: .init(code: 401, reasonPhrase: message),
            headers: [.contentType: "text/plain;charset=UTF-8", reasonField: message],
            body: .init(byteBuffer: ByteBuffer(string: message + "\n")))
    }

    /// An AnyEvent::HTTP pseudo-status (595, 596, …) or any other injected status: no body at all.
    static func bare(_ status: Int) -> Response {
        // Unsure: a 595's text is whatever errno the connection got; "Connection refused" is the common one.
        let reason = switch status {
        case 595: "Connection refused"
        case 596: "Connection timed out"
        default: HTTPResponse.Status(code: status).reasonPhrase
        }
        var headers = HTTPFields()
        if !reason.isEmpty { headers[reasonField] = reason }
        return Response(status: .init(code: status, reasonPhrase: reason), headers: headers)
    }

    /// See ``ReasonPhrase``.
    private static let reasonField = HTTPField.Name(ReasonPhrase.header)!
}
