import BackstopCodec
import CCrypto
import Foundation

/// AWS Signature Version 4 for S3 requests, on libcrypto's HMAC-SHA-256. The payload is signed too: its
/// SHA-256 (which Backstop computes anyway) goes into `x-amz-content-sha256` and into the signature, so the
/// server rejects a body changed on the way.
///
/// Reference: <https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html>
public struct S3Signer: Sendable {
    public var credentials: S3Credentials
    public var region: String
    public var service = "s3"

    public init(credentials: S3Credentials, region: String) {
        self.credentials = credentials
        self.region = region
    }

    /// SHA-256 of nothing: the payload hash of requests without a body.
    public static let emptyPayloadSHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The headers to add to a request: `x-amz-date`, `x-amz-content-sha256`, the session token if any, and
    /// `Authorization`. `path` is the URI path as sent (already percent-encoded), `query` the decoded
    /// parameters, `headers` every other header that is sent (they are all signed).
    public func sign(method: String, host: String, path: String, query: [(String, String)], headers: [String: String],
                     payloadSHA256: String, date: Date) -> [String: String] {
        let stamp = S3Signer.timestamp(date)
        let day = String(stamp.prefix(8))
        var all = [String: String]()
        for (name, value) in headers { all[name.lowercased()] = value }
        all["host"] = host
        all["x-amz-date"] = stamp
        all["x-amz-content-sha256"] = payloadSHA256
        if let token = credentials.sessionToken { all["x-amz-security-token"] = token }
        let names = all.keys.sorted()
        let canonicalHeaders = names.map { "\($0):\(S3Signer.trimmed(all[$0]!))\n" }.joined()
        let signedHeaders = names.joined(separator: ";")
        let encoded: [(String, String)] = query.map { (S3Signer.encode($0.0), S3Signer.encode($0.1)) }
        let sortedQuery = encoded.sorted { (a: (String, String), b: (String, String)) -> Bool in a.0 == b.0 ? a.1 < b.1 : a.0 < b.0 }
        let canonicalQuery = sortedQuery.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        let canonicalRequest = [method, path, canonicalQuery, canonicalHeaders, signedHeaders, payloadSHA256].joined(separator: "\n")
        let scope = "\(day)/\(region)/\(service)/aws4_request"
        let stringToSign = ["AWS4-HMAC-SHA256", stamp, scope, SHA256Hasher.hex(of: Data(canonicalRequest.utf8))].joined(separator: "\n")
        var key = S3Signer.hmac(key: Array("AWS4\(credentials.secretAccessKey)".utf8), Array(day.utf8))
        for part in [region, service, "aws4_request"] { key = S3Signer.hmac(key: key, Array(part.utf8)) }
        let signature = S3Signer.hex(S3Signer.hmac(key: key, Array(stringToSign.utf8)))
        var result = [String: String]()
        for name in names where name != "host" { result[name] = all[name] }
        result["authorization"] = "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        return result
    }

    /// `20130524T000000Z`.
    public static func timestamp(_ date: Date) -> String {
        var time = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday),
                      Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    /// URI encoding as SigV4 defines it: everything but A-Z a-z 0-9 - _ . ~ percent-encoded (and `/`
    /// too unless `keepSlash`, which object keys in paths use).
    public static func encode(_ text: String, keepSlash: Bool = false) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(byte))
            case UInt8(ascii: "/") where keepSlash:
                out.append("/")
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }

    static func trimmed(_ value: String) -> String {
        value.trimmingCharacters(in: .whitespaces).split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
    }

    static func hmac(key: [UInt8], _ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = key.withUnsafeBufferPointer { k in
            message.withUnsafeBufferPointer { m in
                HMAC(EVP_sha256(), k.baseAddress, Int32(k.count), m.baseAddress, m.count, &out, &length)
            }
        }
        return out
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }
}

/// Digests the S3 API asks for besides SHA-256 hex: MD5 (`Content-MD5`, ETags) and base64 forms.
public enum S3Digest {
    public static func md5(_ data: Data) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        _ = data.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &out, &length, EVP_md5(), nil) }
        return out
    }

    public static func sha256(_ data: Data) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        _ = data.withUnsafeBytes { EVP_Digest($0.baseAddress, $0.count, &out, &length, EVP_sha256(), nil) }
        return out
    }

    public static func hex(_ bytes: [UInt8]) -> String { S3Signer.hex(bytes) }
    public static func base64(_ bytes: [UInt8]) -> String { Data(bytes).base64EncodedString() }

    /// Bytes of a lowercase hex string (nil when it is not one).
    public static func bytes(hex: String) -> [UInt8]? {
        let chars = Array(hex.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count / 2)
        for i in stride(from: 0, to: chars.count, by: 2) {
            guard let byte = UInt8(String(decoding: chars[i...i + 1], as: UTF8.self), radix: 16) else { return nil }
            out.append(byte)
        }
        return out
    }

    /// The ETag S3 gives an object uploaded in parts: MD5 of the parts' MD5s, a dash, the part count.
    public static func multipartETag(partMD5s: [[UInt8]]) -> String {
        hex(md5(Data(partMD5s.joined()))) + "-\(partMD5s.count)"
    }
}
