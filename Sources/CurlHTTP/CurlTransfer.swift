import CCurl
import Foundation
import Synchronization

/// How the server's certificate is trusted.
public enum CurlTrust: Sendable, Equatable {
    /// Only a leaf whose public key has this `sha256//BASE64` digest; CA checks are off, since
    /// the leaf may be self-signed. libcurl checks it in the handshake, before any request byte.
    case pinnedKey(String)
    /// A chain to a CA in this PEM file, with the host name checked.
    case caFile(String)
}

/// One HTTPS request as libcurl performs it.
public struct CurlRequest: Sendable {
    public var method: String
    public var url: String
    public var headers: [String]
    public var body: [UInt8]?
    public var trust: CurlTrust
    public var connectTimeout: Duration
    public var totalTimeout: Duration
    public var responseLimit: Int

    public init(
        method: String, url: String, headers: [String], body: [UInt8]?, trust: CurlTrust,
        connectTimeout: Duration, totalTimeout: Duration, responseLimit: Int
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.trust = trust
        self.connectTimeout = connectTimeout
        self.totalTimeout = totalTimeout
        self.responseLimit = responseLimit
    }
}

/// What came back: the status and the body, within the limit.
public struct CurlReply: Sendable {
    public var status: Int
    public var body: [UInt8]
}

/// Why a transfer got no answer.
public enum CurlFailure: Error, Sendable, Equatable {
    /// The certificate's public key does not match the pin; nothing was sent.
    case pinMismatch
    /// The certificate does not chain to the CA file, or names another host; nothing was sent.
    case untrustedCertificate(String)
    /// No TCP connection.
    case connectionRefused
    /// The transfer ran past its connect or total timeout.
    case timedOut(String)
    /// The answer was over the size limit and was not read.
    case responseTooLarge(limit: Int)
    /// The calling task was cancelled and the transfer aborted.
    case cancelled
    /// Any other failure, with libcurl's code and message.
    case transport(curlCode: Int, message: String)
}

/// Runs one libcurl easy transfer on a thread of its own.
///
/// `curl_easy_perform` blocks for up to the total timeout, and the machine has
/// two cores; blocking a cooperative-pool thread that long would stall every
/// other task, so each transfer gets a dedicated thread.
public enum CurlTransfer {
    /// libcurl's global state must be set up once, before any thread uses it.
    private static let globalInit: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// Performs `request` on a thread of its own; task cancellation aborts it.
    public static func perform(_ request: CurlRequest) async throws(CurlFailure) -> CurlReply {
        _ = globalInit
        let state = TransferState(limit: request.responseLimit)
        let result: Result<CurlReply, CurlFailure> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let thread = Thread {
                    continuation.resume(returning: Self.performBlocking(request, state: state))
                }
                thread.name = "felhom-curl"
                thread.start()
            }
        } onCancel: {
            state.cancel()
        }
        return try result.get()
    }

    private static func performBlocking(_ request: CurlRequest, state: TransferState) -> Result<CurlReply, CurlFailure> {
        guard let handle = curl_easy_init() else {
            return .failure(.transport(curlCode: -1, message: "curl_easy_init failed"))
        }
        defer { curl_easy_cleanup(handle) }

        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        defer { errorBuffer.deallocate() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        for header in request.headers + ["Expect:"] {
            headerList = curl_slist_append(headerList, header)
        }
        defer { curl_slist_free_all(headerList) }

        let context = Unmanaged.passRetained(state)
        defer { context.release() }

        var code = CURLE_OK
        func set(_ result: CURLcode) { if code == CURLE_OK { code = result } }
        set(felhom_curl_set_string(handle, CURLOPT_URL, request.url))
        switch request.trust {
        case .pinnedKey(let pin):
            // The pin replaces CA trust: the leaf is self-signed, and libcurl checks the
            // pinned key during the handshake, before any request byte (and so the token) is sent.
            set(felhom_curl_set_string(handle, CURLOPT_PINNEDPUBLICKEY, pin))
            set(felhom_curl_set_long(handle, CURLOPT_SSL_VERIFYPEER, 0))
            set(felhom_curl_set_long(handle, CURLOPT_SSL_VERIFYHOST, 0))
        case .caFile(let path):
            set(felhom_curl_set_string(handle, CURLOPT_CAINFO, path))
            set(felhom_curl_set_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
            set(felhom_curl_set_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        }
        set(felhom_curl_set_string(handle, CURLOPT_PROTOCOLS_STR, "https"))
        set(felhom_curl_set_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        set(felhom_curl_set_long(handle, CURLOPT_NOSIGNAL, 1))
        set(felhom_curl_set_long(handle, CURLOPT_CONNECTTIMEOUT_MS, milliseconds(request.connectTimeout)))
        set(felhom_curl_set_long(handle, CURLOPT_TIMEOUT_MS, milliseconds(request.totalTimeout)))
        set(felhom_curl_set_string(handle, CURLOPT_CUSTOMREQUEST, request.method))
        set(felhom_curl_set_headers(handle, headerList))
        set(felhom_curl_set_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        set(felhom_curl_set_write_callback(handle, writeCallback))
        set(felhom_curl_set_pointer(handle, CURLOPT_WRITEDATA, context.toOpaque()))
        set(felhom_curl_set_long(handle, CURLOPT_NOPROGRESS, 0))
        set(felhom_curl_set_progress_callback(handle, progressCallback))
        set(felhom_curl_set_pointer(handle, CURLOPT_XFERINFODATA, context.toOpaque()))
        if let body = request.body {
            set(felhom_curl_set_long(handle, CURLOPT_POSTFIELDSIZE, body.count))
            body.withUnsafeBufferPointer { buffer in
                set(felhom_curl_set_pointer(handle, CURLOPT_COPYPOSTFIELDS, UnsafeMutableRawPointer(mutating: buffer.baseAddress)))
            }
        }
        if code != CURLE_OK {
            return .failure(.transport(curlCode: Int(code.rawValue), message: "setting up the transfer: \(String(cString: curl_easy_strerror(code)))"))
        }

        let performed = curl_easy_perform(handle)
        let message = errorBuffer.pointee == 0 ? String(cString: curl_easy_strerror(performed)) : String(cString: errorBuffer)
        switch performed {
        case CURLE_OK:
            var status = 0
            _ = felhom_curl_get_response_code(handle, &status)
            return .success(CurlReply(status: status, body: state.body))
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
            return .failure(.pinMismatch)
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE:
            return .failure(.untrustedCertificate(message))
        case CURLE_COULDNT_CONNECT:
            return .failure(.connectionRefused)
        case CURLE_OPERATION_TIMEDOUT:
            return .failure(.timedOut(message))
        case CURLE_WRITE_ERROR where state.overflowed:
            return .failure(.responseTooLarge(limit: request.responseLimit))
        case CURLE_ABORTED_BY_CALLBACK:
            return .failure(.cancelled)
        default:
            return .failure(.transport(curlCode: Int(performed.rawValue), message: message))
        }
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}

/// The body received so far and the cancel flag, shared with libcurl's callbacks.
private final class TransferState: Sendable {
    private struct Storage {
        var body: [UInt8] = []
        var overflowed = false
    }
    private let storage = Mutex(Storage())
    private let cancelled = Atomic(false)
    let limit: Int

    init(limit: Int) {
        self.limit = limit
    }

    var body: [UInt8] { storage.withLock { $0.body } }
    var overflowed: Bool { storage.withLock { $0.overflowed } }
    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
    func cancel() { cancelled.store(true, ordering: .releasing) }

    /// Appends a chunk, or refuses it when the body would pass the limit.
    func append(_ bytes: UnsafeRawBufferPointer) -> Bool {
        storage.withLock { storage in
            guard storage.body.count + bytes.count <= limit else {
                storage.overflowed = true
                return false
            }
            storage.body.append(contentsOf: bytes)
            return true
        }
    }
}

/// Returning fewer bytes than offered makes libcurl stop with CURLE_WRITE_ERROR.
private let writeCallback: felhom_curl_write_callback = { data, size, count, context in
    guard let data, let context else { return 0 }
    let state = Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue()
    let length = size * count
    return state.append(UnsafeRawBufferPointer(start: data, count: length)) ? length : 0
}

/// A non-zero return aborts the transfer, which is how task cancellation reaches libcurl.
private let progressCallback: felhom_curl_progress_callback = { context, _, _, _, _ in
    guard let context else { return 0 }
    return Unmanaged<TransferState>.fromOpaque(context).takeUnretainedValue().isCancelled ? 1 : 0
}
