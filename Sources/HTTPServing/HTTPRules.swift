import Foundation
import HTTPTypes
import Hummingbird

/// Error bodies in an API's own format, for the rules below.
public typealias RenderError = @Sendable (_ status: HTTPResponse.Status, _ code: String, _ message: String) -> Response

/// 405 with `Allow` for a path that exists under other methods; Hummingbird's router answers 404.
///
/// Add it to the router after every route: a router middleware wraps only the endpoints added
/// after it, so this one wraps only the not-found answer, and costs a matched request nothing.
/// It is built from the router's own route list, so it cannot drift from the routes. `HEAD` is
/// allowed wherever `GET` is; the router answers it when made with `.autoGenerateHeadEndpoints`.
public struct MethodNotAllowed<Context: RequestContext>: RouterMiddleware {
    struct Route: Sendable {
        /// `nil` where the route captures a parameter.
        var segments: [Substring?]
        var method: HTTPRequest.Method
    }

    let routes: [Route]
    let render: RenderError

    public init(routes: [Router<Context>.RouteDescription], render: @escaping RenderError) {
        self.routes = routes.map { route in
            let segments = route.path.description.split(separator: "/").map { segment -> Substring? in
                segment.hasPrefix("{") || segment.hasPrefix(":") || segment == "*" ? nil : segment
            }
            return Route(segments: segments, method: route.method)
        }
        self.render = render
    }

    /// The methods `path` answers to, `HEAD` included; `nil` when no route has this path.
    func allowedMethods(for path: String) -> [HTTPRequest.Method]? {
        let requested = path.split(separator: "/")
        var methods: Set<HTTPRequest.Method> = []
        for route in routes where route.segments.count == requested.count {
            if zip(route.segments, requested).allSatisfy({ $0 == nil || $0 == $1 }) {
                methods.insert(route.method)
            }
        }
        guard !methods.isEmpty else { return nil }
        if methods.contains(.get) { methods.insert(.head) }
        return methods.sorted { $0.rawValue < $1.rawValue }
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let allowed = allowedMethods(for: request.uri.path), !allowed.contains(request.method) {
            let list = allowed.map(\.rawValue).joined(separator: ", ")
            var response = render(.methodNotAllowed, "method_not_allowed", "\(request.method.rawValue) is not allowed on \(request.uri.path); use \(list)")
            response.headers[.allow] = list
            return response
        }
        return try await next(request, context)
    }
}

/// 415 for a request body that is not declared as JSON, the only body either API reads.
/// Add it before the routes, so it wraps them all.
public struct RequireJSONBody<Context: RequestContext>: RouterMiddleware {
    let render: RenderError

    public init(render: @escaping RenderError) {
        self.render = render
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if Self.hasBody(request), !Self.isJSON(request.headers[.contentType]) {
            return render(.unsupportedMediaType, "unsupported_media_type", "send the body as JSON with `Content-Type: application/json`")
        }
        return try await next(request, context)
    }

    static func hasBody(_ request: Request) -> Bool {
        if request.headers[.transferEncoding] != nil { return true }
        guard let length = request.headers[.contentLength] else { return false }
        return length != "0"
    }

    /// `application/json`, with or without parameters such as `charset`, in any case.
    static func isJSON(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let mediaType = contentType.split(separator: ";", maxSplits: 1).first ?? ""
        return mediaType.trimmingCharacters(in: .whitespaces).lowercased() == "application/json"
    }
}
