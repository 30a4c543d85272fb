import BackstopCore
import BackstopCodec
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Where a bucket is served: the endpoint, its region, and whether the bucket goes in the path
/// (`http://host/bucket/key`, most S3-compatible servers) or in the host name (`https://bucket.host/key`, AWS).
public struct S3Endpoint: Sendable, Equatable {
    public var url: URL
    public var region: String
    public var pathStyle: Bool

    public init(url: URL, region: String, pathStyle: Bool) {
        self.url = url; self.region = region; self.pathStyle = pathStyle
    }

    /// `https://s3.REGION.amazonaws.com`, addressed by bucket name in the host.
    public static func aws(region: String) -> S3Endpoint {
        S3Endpoint(url: URL(string: "https://s3.\(region).amazonaws.com")!, region: region, pathStyle: false)
    }
}

/// What a request's answer said.
public struct S3Response: Sendable {
    public var status: Int
    /// Header names in lower case.
    public var headers: [String: String]
    public var body: Data

    public var etag: String? { headers["etag"].map { $0.trimmingCharacters(in: CharacterSet(charactersIn: "\"")) } }
}

/// An object as listed or as a HEAD request describes it.
public struct S3Object: Sendable, Equatable {
    public var key: String
    public var size: Int64
    public var etag: String
    /// `x-amz-meta-*` headers (HEAD only), names without the prefix.
    public var metadata: [String: String] = [:]
    public var lastModified: Date?
    /// The SHA-256 the server computed of a whole object uploaded in one piece (HEAD only; lowercase hex).
    public var checksumSHA256: String?
}

/// A minimal S3 client over URLSession: the requests Backstop needs (objects, listings, multipart uploads),
/// every one signed with SigV4 including its payload, retried with backoff on 5xx answers, throttling and
/// network failures. Synchronous: each call returns when its answer is in. Thread-safe.
public final class S3Client: @unchecked Sendable {
    public let endpoint: S3Endpoint
    public let bucket: String
    let signer: S3Signer
    let session: URLSession
    /// Attempts after the first, and the first pause between them (doubled each time, at most 8 s).
    let retries: Int
    let backoff: TimeInterval
    let credentialsSource: String

    public init(endpoint: S3Endpoint, bucket: String, credentials: S3Credentials, retries: Int = 5, backoff: TimeInterval = 0.25,
                timeout: TimeInterval = 60) {
        self.endpoint = endpoint
        self.bucket = bucket
        self.signer = S3Signer(credentials: credentials, region: endpoint.region)
        self.retries = retries
        self.backoff = backoff
        self.credentialsSource = credentials.source
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = max(timeout * 20, 600)
        configuration.httpMaximumConnectionsPerHost = 16
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        session = URLSession(configuration: configuration, delegate: NoRedirects(), delegateQueue: nil)
    }

    /// Redirects are answers, not directions: a request is signed for its host, so one sent on elsewhere
    /// fails as if the credentials were wrong. The 3xx comes back and says where the bucket is.
    private final class NoRedirects: NSObject, URLSessionTaskDelegate, @unchecked Sendable {
        func urlSession(_ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
                        newRequest request: URLRequest, completionHandler: @escaping (URLRequest?) -> Void) {
            completionHandler(nil)
        }
    }

    deinit { session.invalidateAndCancel() }

    /// `s3://bucket/key`, for messages.
    public func describe(_ key: String) -> String { "s3://\(bucket)/\(key)" }

    /// Sends a request; answers whose status is in `accept` (or 2xx) are returned, others thrown as
    /// ``BackstopError/remote(_:status:code:remedy:)`` after the retries the status allows.
    public func send(_ method: String, key: String?, query: [(String, String)] = [], headers: [String: String] = [:],
                     body: Data? = nil, bodySHA256: String? = nil, accept: Set<Int> = [], doing: String) throws -> S3Response {
        var path: String
        var host = endpoint.url.host ?? ""
        if endpoint.pathStyle {
            path = "/" + S3Signer.encode(bucket)
            if let key { path += "/" + S3Signer.encode(key, keepSlash: true) }
        } else {
            host = "\(bucket).\(host)"
            path = "/" + (key.map { S3Signer.encode($0, keepSlash: true) } ?? "")
        }
        if let port = endpoint.url.port { host += ":\(port)" }
        let basePath = endpoint.url.path == "/" ? "" : endpoint.url.path
        path = basePath + path
        let queryText = query.map { "\(S3Signer.encode($0.0))=\(S3Signer.encode($0.1))" }.joined(separator: "&")
        let scheme = endpoint.url.scheme ?? "https"
        guard let url = URL(string: "\(scheme)://\(host)\(path)\(queryText.isEmpty ? "" : "?" + queryText)") else {
            throw BackstopError.invalidInput("cannot form a URL for \(describe(key ?? ""))")
        }
        let payloadHash = bodySHA256 ?? (body.map { SHA256Hasher.hex(of: $0) } ?? S3Signer.emptyPayloadSHA256)
        var attempt = 0
        while true {
            var request = URLRequest(url: url)
            request.httpMethod = method
            var sent = headers
            if body != nil || method == "PUT" || method == "POST" { sent["content-length"] = String(body?.count ?? 0) }
            for (name, value) in signer.sign(method: method, host: host, path: path, query: query, headers: sent,
                                             payloadSHA256: payloadHash, date: Date()) {
                request.setValue(value, forHTTPHeaderField: name)
            }
            for (name, value) in sent { request.setValue(value, forHTTPHeaderField: name) }
            request.httpBody = body
            let outcome = perform(request)
            switch outcome {
            case .success(let response):
                if (200..<300).contains(response.status) || accept.contains(response.status) { return response }
                let retryable = [500, 502, 503, 504, 429].contains(response.status)
                if retryable && attempt < retries {
                    attempt += 1
                    pause(attempt)
                    continue
                }
                throw failure(response, key: key, doing: doing, attempts: attempt + 1)
            case .failure(let error):
                if attempt < retries {
                    attempt += 1
                    pause(attempt)
                    continue
                }
                throw BackstopError.remote(
                    "\(doing) failed: no answer from \(endpoint.url.absoluteString) after \(attempt + 1) attempts (\(error.localizedDescription))",
                    status: nil, code: nil, remedy: .checkConnection(endpoint.url.absoluteString))
            }
        }
    }

    private func pause(_ attempt: Int) {
        let base = min(backoff * pow(2, Double(attempt - 1)), 8)
        Thread.sleep(forTimeInterval: base * Double.random(in: 0.5...1.0))
    }

    private final class Box: @unchecked Sendable {
        var result: Result<S3Response, Error> = .failure(URLError(.unknown))
    }

    private func perform(_ request: URLRequest) -> Result<S3Response, Error> {
        let done = DispatchSemaphore(value: 0)
        let box = Box()
        let task = session.dataTask(with: request) { data, response, error in
            if let error {
                box.result = .failure(error)
            } else if let http = response as? HTTPURLResponse {
                var headers: [String: String] = [:]
                for (name, value) in http.allHeaderFields {
                    if let name = name as? String, let value = value as? String { headers[name.lowercased()] = value }
                }
                box.result = .success(S3Response(status: http.statusCode, headers: headers, body: data ?? Data()))
            }
            done.signal()
        }
        task.resume()
        done.wait()
        return box.result
    }

    /// An error answer in words: the S3 code, what it means here, and what to do.
    func failure(_ response: S3Response, key: String?, doing: String, attempts: Int) -> BackstopError {
        let tree = XMLTree.parse(response.body)
        let code = tree?.value("Code")
        let message = tree?.value("Message").map { TerminalSafe.line($0) }
        let what = key.map { describe($0) } ?? "s3://\(bucket)"
        let detail = [code, message].compactMap { $0 }.joined(separator: ": ")
        let said = "\(doing) failed: \(endpoint.url.absoluteString) answered \(response.status)" + (detail.isEmpty ? "" : " (\(detail))")
        switch (response.status, code) {
        case (_, "NoSuchBucket"):
            return .remote("the bucket \(bucket) does not exist at \(endpoint.url.absoluteString); \(doing) failed", status: response.status,
                           code: code, remedy: .createBucket(bucket))
        case _ where response.status == 301 || code == "PermanentRedirect" || (code == "AuthorizationHeaderMalformed" && tree?.value("Region") != nil):
            // The bucket is in another region than the one requests are signed for (AWS answers 301 with
            // the bucket's region in a header, or 400 naming the region it expected).
            let region = response.headers["x-amz-bucket-region"] ?? tree?.value("Region")
            let safeRegion = region.map { TerminalSafe.line($0) }.flatMap { $0.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" } ? $0 : nil }
            return .remote("\(doing) failed: the bucket \(bucket) is in " + (safeRegion.map { "the region \($0)" } ?? "another region")
                           + ", not \(endpoint.region), which requests are signed for" + (code.map { " (\($0))" } ?? ""),
                           status: response.status, code: code, remedy: .setRegion(safeRegion))
        case (300..<400, _):
            // Sent elsewhere (another endpoint for the bucket): say where, as scheme://host[:port].
            let location = response.headers["location"].flatMap { URLComponents(string: $0) }
            let elsewhere = location.flatMap { l -> String? in
                guard let scheme = l.scheme, ["http", "https"].contains(scheme), let host = l.host,
                      host.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" }) else { return nil }
                return "\(scheme)://\(host)" + (l.port.map { ":\($0)" } ?? "")
            }
            return .remote("\(doing) failed: \(endpoint.url.absoluteString) answered \(response.status)" + (code.map { " (\($0))" } ?? "")
                           + ", sending the request to " + (elsewhere ?? "another address") + "; a signed request cannot follow it",
                           status: response.status, code: code, remedy: .setEndpoint(elsewhere))
        case (_, "RequestTimeTooSkewed"):
            return .remote("\(doing) failed: this machine's clock differs too much from the server's (RequestTimeTooSkewed); S3 refuses signed requests more than 15 minutes off",
                           status: response.status, code: code, remedy: .fixClock)
        case (_, "SignatureDoesNotMatch"), (_, "InvalidAccessKeyId"), (_, "InvalidToken"), (_, "ExpiredToken"):
            return .remote("\(doing) failed: the server rejected the credentials (\(code!)) for \(what)", status: response.status,
                           code: code, remedy: .checkCredentials(source: credentialsSource))
        case (403, _):
            return .remote("\(doing) failed: permission denied for \(what)" + (detail.isEmpty ? "" : " (\(detail))"), status: 403,
                           code: code, remedy: .checkPermissions(source: credentialsSource))
        case (500..<600, _), (429, _):
            return .remote(said + " \(attempts) times", status: response.status, code: code,
                           remedy: .checkConnection(endpoint.url.absoluteString))
        default:
            return .remote(said, status: response.status, code: code, remedy: nil)
        }
    }

    /// Creates the bucket (tests and first-time setup); an existing one of the same owner is fine.
    public func createBucket() throws {
        let response = try send("PUT", key: nil, body: Data(), accept: [409], doing: "creating the bucket \(bucket)")
        if response.status == 409, XMLTree.parse(response.body)?.value("Code") != "BucketAlreadyOwnedByYou" {
            throw failure(response, key: nil, doing: "creating the bucket \(bucket)", attempts: 1)
        }
    }

    // MARK: - Objects

    /// The object's size, ETag and metadata; nil when there is none.
    public func head(_ key: String) throws -> S3Object? {
        let response = try send("HEAD", key: key, headers: ["x-amz-checksum-mode": "ENABLED"], accept: [404],
                                doing: "checking \(describe(key))")
        if response.status == 404 { return nil }
        var metadata: [String: String] = [:]
        for (name, value) in response.headers where name.hasPrefix("x-amz-meta-") { metadata[String(name.dropFirst(11))] = value }
        // A composite checksum of a multipart upload ("…-N") is not the whole object's.
        let checksum = response.headers["x-amz-checksum-sha256"].flatMap { Data(base64Encoded: $0) }.flatMap { $0.count == 32 ? S3Digest.hex(Array($0)) : nil }
        return S3Object(key: key, size: Int64(response.headers["content-length"] ?? "") ?? -1, etag: response.etag ?? "",
                        metadata: metadata, checksumSHA256: checksum)
    }

    /// The object, or `range` of it; nil when there is none. With `ifMatch`, an object replaced since it
    /// was listed is an error rather than other bytes.
    public func get(_ key: String, range: Range<Int64>? = nil, ifMatch: String? = nil) throws -> Data? {
        var headers: [String: String] = [:]
        if let range { headers["range"] = "bytes=\(range.lowerBound)-\(range.upperBound - 1)" }
        if let ifMatch { headers["if-match"] = "\"\(ifMatch)\"" }
        let response = try send("GET", key: key, headers: headers, accept: [404], doing: "reading \(describe(key))")
        if response.status == 404 { return nil }
        if let range, response.body.count != range.count {
            throw BackstopError.remote("reading \(describe(key)) at \(range.lowerBound): \(response.body.count) bytes came, \(range.count) were asked for",
                                       status: response.status, code: nil, remedy: nil)
        }
        return response.body
    }

    public enum PutOutcome: Sendable, Equatable {
        case stored(etag: String)
        /// `If-None-Match` or `If-Match` did not hold (412).
        case preconditionFailed
        /// The server does not support the condition (501).
        case notImplemented
    }

    /// Stores `body` at `key`, with `Content-MD5`, `x-amz-checksum-sha256` and the signed payload hash, so
    /// the server refuses bytes that changed on the way. `ifNoneMatch`: only if there is no object yet.
    public func put(_ key: String, body: Data, contentType: String = "application/octet-stream", metadata: [String: String] = [:],
                    ifNoneMatch: Bool = false, ifMatch: String? = nil) throws -> PutOutcome {
        let sha = S3Digest.sha256(body)
        var headers = ["content-type": contentType, "content-md5": S3Digest.base64(S3Digest.md5(body)),
                       "x-amz-checksum-sha256": S3Digest.base64(sha)]
        for (name, value) in metadata { headers["x-amz-meta-\(name)"] = value }
        if ifNoneMatch { headers["if-none-match"] = "*" }
        if let ifMatch { headers["if-match"] = "\"\(ifMatch)\"" }
        let response = try send("PUT", key: key, headers: headers, body: body, bodySHA256: S3Digest.hex(sha),
                                accept: [412, 501], doing: "uploading \(describe(key))")
        switch response.status {
        case 412: return .preconditionFailed
        case 501: return .notImplemented
        default: return .stored(etag: response.etag ?? "")
        }
    }

    public func delete(_ key: String) throws {
        _ = try send("DELETE", key: key, accept: [404], doing: "removing \(describe(key))")
    }

    /// Every object whose key starts with `prefix`, in key order.
    public func list(prefix: String) throws -> [S3Object] {
        var objects: [S3Object] = []
        var token: String?
        repeat {
            var query = [("list-type", "2"), ("prefix", prefix)]
            if let token { query.append(("continuation-token", token)) }
            let response = try send("GET", key: nil, query: query, doing: "listing s3://\(bucket)/\(prefix)")
            guard let tree = XMLTree.parse(response.body), tree.name == "ListBucketResult" else {
                throw BackstopError.remote("listing s3://\(bucket)/\(prefix): the answer is not a bucket listing", status: response.status,
                                           code: nil, remedy: nil)
            }
            for item in tree.all("Contents") {
                guard let key = item.value("Key"), let size = item.value("Size").flatMap({ Int64($0) }) else { continue }
                objects.append(S3Object(key: key, size: size,
                                        etag: (item.value("ETag") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
                                        lastModified: item.value("LastModified").flatMap(S3Client.parseDate)))
            }
            token = tree.value("IsTruncated") == "true" ? tree.value("NextContinuationToken") : nil
        } while token != nil
        return objects.sorted { $0.key < $1.key }
    }

    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }

    // MARK: - Multipart uploads

    public struct Upload: Sendable, Equatable {
        public var key: String
        public var id: String
        public var initiated: Date?
    }

    public struct Part: Sendable, Equatable {
        public var number: Int
        public var etag: String
        public var size: Int64
    }

    public func createMultipartUpload(_ key: String, contentType: String = "application/octet-stream",
                                      metadata: [String: String] = [:]) throws -> String {
        var headers = ["content-type": contentType]
        for (name, value) in metadata { headers["x-amz-meta-\(name)"] = value }
        let response = try send("POST", key: key, query: [("uploads", "")], headers: headers, body: Data(),
                                doing: "starting the upload of \(describe(key))")
        guard let id = XMLTree.parse(response.body)?.value("UploadId"), !id.isEmpty else {
            throw BackstopError.remote("starting the upload of \(describe(key)): the answer has no UploadId", status: response.status,
                                       code: nil, remedy: nil)
        }
        return id
    }

    /// Uploads one part (numbered from 1) with its MD5 and SHA-256; returns its ETag.
    public func uploadPart(_ key: String, uploadID: String, number: Int, body: Data) throws -> String {
        let sha = S3Digest.sha256(body)
        let response = try send("PUT", key: key, query: [("partNumber", String(number)), ("uploadId", uploadID)],
                                headers: ["content-md5": S3Digest.base64(S3Digest.md5(body)), "x-amz-checksum-sha256": S3Digest.base64(sha)],
                                body: body, bodySHA256: S3Digest.hex(sha), doing: "uploading part \(number) of \(describe(key))")
        return response.etag ?? ""
    }

    public func completeMultipartUpload(_ key: String, uploadID: String, parts: [Part]) throws {
        var xml = "<CompleteMultipartUpload>"
        for part in parts.sorted(by: { $0.number < $1.number }) {
            xml += "<Part><PartNumber>\(part.number)</PartNumber><ETag>\"\(part.etag)\"</ETag></Part>"
        }
        xml += "</CompleteMultipartUpload>"
        let body = Data(xml.utf8)
        let response = try send("POST", key: key, query: [("uploadId", uploadID)],
                                headers: ["content-type": "application/xml", "content-md5": S3Digest.base64(S3Digest.md5(body))],
                                body: body, doing: "completing the upload of \(describe(key))")
        // S3 may answer 200 with an error document when completing fails late.
        if let tree = XMLTree.parse(response.body), tree.name == "Error" {
            throw failure(S3Response(status: 500, headers: response.headers, body: response.body), key: key,
                          doing: "completing the upload of \(describe(key))", attempts: 1)
        }
    }

    public func abortMultipartUpload(_ key: String, uploadID: String) throws {
        _ = try send("DELETE", key: key, query: [("uploadId", uploadID)], accept: [404], doing: "aborting the upload of \(describe(key))")
    }

    /// Multipart uploads started and neither completed nor aborted, under `prefix`.
    public func listMultipartUploads(prefix: String) throws -> [Upload] {
        var uploads: [Upload] = []
        var keyMarker: String?
        var idMarker: String?
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let idMarker { query.append(("upload-id-marker", idMarker)) }
            let response = try send("GET", key: nil, query: query, doing: "listing unfinished uploads in s3://\(bucket)/\(prefix)")
            guard let tree = XMLTree.parse(response.body) else { break }
            for item in tree.all("Upload") {
                guard let key = item.value("Key"), let id = item.value("UploadId") else { continue }
                uploads.append(Upload(key: key, id: id, initiated: item.value("Initiated").flatMap(S3Client.parseDate)))
            }
            if tree.value("IsTruncated") == "true" {
                keyMarker = tree.value("NextKeyMarker")
                idMarker = tree.value("NextUploadIdMarker")
                if keyMarker == nil { break }
            } else { keyMarker = nil }
        } while keyMarker != nil
        return uploads
    }

    /// The parts an unfinished upload already has.
    public func listParts(_ key: String, uploadID: String) throws -> [Part] {
        var parts: [Part] = []
        var marker: String?
        repeat {
            var query = [("uploadId", uploadID)]
            if let marker { query.append(("part-number-marker", marker)) }
            let response = try send("GET", key: key, query: query, accept: [404], doing: "listing the parts of \(describe(key))")
            if response.status == 404 { return [] }
            guard let tree = XMLTree.parse(response.body) else { break }
            for item in tree.all("Part") {
                guard let number = item.value("PartNumber").flatMap({ Int($0) }), let size = item.value("Size").flatMap({ Int64($0) }) else { continue }
                parts.append(Part(number: number, etag: (item.value("ETag") ?? "").trimmingCharacters(in: CharacterSet(charactersIn: "\"")),
                                  size: size))
            }
            marker = tree.value("IsTruncated") == "true" ? tree.value("NextPartNumberMarker") : nil
        } while marker != nil
        return parts
    }
}

/// Text from a server, made safe to print on one line (no control characters, bounded).
enum TerminalSafe {
    static func line(_ text: String) -> String {
        let cleaned = String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
        return cleaned.count > 300 ? String(cleaned.prefix(300)) + "…" : cleaned
    }
}
