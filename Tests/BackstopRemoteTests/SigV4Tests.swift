import BackstopRemote
import Foundation
import XCTest

/// SigV4 against the examples AWS publishes for S3 (Amazon S3 API Reference, "Examples: Signature
/// Calculations in AWS Signature Version 4": examplebucket, 2013-05-24, AKIAIOSFODNN7EXAMPLE).
final class SigV4Tests: XCTestCase {
    let signer = S3Signer(credentials: S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE",
                                                     secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", source: "test"),
                          region: "us-east-1")
    let date = Date(timeIntervalSince1970: 1_369_353_600)   // 20130524T000000Z

    func testGetObjectExample() {
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/test.txt", query: [],
                                  headers: ["range": "bytes=0-9"], payloadSHA256: S3Signer.emptyPayloadSHA256, date: date)
        XCTAssertEqual(headers["authorization"],
                       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41")
        XCTAssertEqual(headers["x-amz-date"], "20130524T000000Z")
    }

    func testPutObjectExample() {
        let body = Data("Welcome to Amazon S3.".utf8)
        let headers = signer.sign(method: "PUT", host: "examplebucket.s3.amazonaws.com",
                                  path: "/" + S3Signer.encode("test$file.text", keepSlash: true), query: [],
                                  headers: ["date": "Fri, 24 May 2013 00:00:00 GMT", "x-amz-storage-class": "REDUCED_REDUNDANCY"],
                                  payloadSHA256: S3Digest.hex(S3Digest.sha256(body)), date: date)
        XCTAssertEqual(headers["authorization"],
                       "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class, Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd")
    }

    func testGetBucketLifecycleExample() {
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/", query: [("lifecycle", "")],
                                  headers: [:], payloadSHA256: S3Signer.emptyPayloadSHA256, date: date)
        XCTAssertEqual(headers["authorization"]?.components(separatedBy: "Signature=").last,
                       "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543")
    }

    func testListObjectsExample() {
        let headers = signer.sign(method: "GET", host: "examplebucket.s3.amazonaws.com", path: "/",
                                  query: [("max-keys", "2"), ("prefix", "J")],
                                  headers: [:], payloadSHA256: S3Signer.emptyPayloadSHA256, date: date)
        XCTAssertEqual(headers["authorization"]?.components(separatedBy: "Signature=").last,
                       "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")
    }

    func testURIEncoding() {
        XCTAssertEqual(S3Signer.encode("a b/c~d*é", keepSlash: true), "a%20b/c~d%2A%C3%A9")
        XCTAssertEqual(S3Signer.encode("a/b"), "a%2Fb")
    }

    func testMultipartETag() {
        // Two parts: the ETag is the MD5 of their MD5s, a dash, the count.
        let a = S3Digest.md5(Data("a".utf8)), b = S3Digest.md5(Data("b".utf8))
        XCTAssertEqual(S3Digest.multipartETag(partMD5s: [a, b]), S3Digest.hex(S3Digest.md5(Data(a + b))) + "-2")
        XCTAssertEqual(S3Digest.hex(a), "0cc175b9c0f1b6a831c399e269772661")
    }

    func testCredentialsAreNeverInTheirDescription() {
        let credentials = S3Credentials(accessKeyID: "AKIAIOSFODNN7EXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                                        sessionToken: "TOKEN-SECRET", source: "AWS_ACCESS_KEY_ID")
        for text in [credentials.description, "\(credentials)", String(reflecting: credentials)] {
            XCTAssertFalse(text.contains("wJalrXUtnFEMI"), text)
            XCTAssertFalse(text.contains("TOKEN-SECRET"), text)
            XCTAssertFalse(text.contains("AKIAIOSFODNN7EXAMPLE"), text)
        }
    }

    func testCredentialsFromAProfile() throws {
        let dir = NSTemporaryDirectory() + "/backstop-creds-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data("[default]\naws_access_key_id = A1\naws_secret_access_key = S1\n\n[profile backup]\naws_access_key_id=A2\naws_secret_access_key=S2\naws_session_token = T2\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/credentials"))
        let env = ["AWS_SHARED_CREDENTIALS_FILE": dir + "/credentials"]
        let byDefault = try S3Credentials.resolve(profile: nil, environment: env)
        XCTAssertEqual([byDefault.accessKeyID, byDefault.secretAccessKey], ["A1", "S1"])
        let named = try S3Credentials.resolve(profile: "backup", environment: env)
        XCTAssertEqual([named.accessKeyID, named.secretAccessKey, named.sessionToken], ["A2", "S2", "T2"])
        let fromEnv = try S3Credentials.resolve(profile: nil, environment: env.merging(["AWS_ACCESS_KEY_ID": "E", "AWS_SECRET_ACCESS_KEY": "F"]) { $1 })
        XCTAssertEqual(fromEnv.accessKeyID, "E")
        XCTAssertThrowsError(try S3Credentials.resolve(profile: "missing", environment: env)) { error in
            XCTAssertTrue("\(error)".contains("no profile [missing]"), "\(error)")
            XCTAssertFalse("\(error)".contains("S1"), "\(error)")
        }
    }

    func testLocations() throws {
        XCTAssertEqual(try S3Location(url: "s3://my-bucket/a/b/").key("x.json"), "a/b/x.json")
        XCTAssertEqual(try S3Location(url: "s3://my-bucket").key("x.json"), "x.json")
        for bad in ["s3://", "s3://UPPER/x", "http://b/x", "s3://ok-bucket/a//b", "s3://ok-bucket/../x"] {
            XCTAssertThrowsError(try S3Location(url: bad), bad)
        }
    }
}
