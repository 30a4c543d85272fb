@testable import BackstopAge
import BackstopCodec
import BackstopTestSupport
import CZlib
import Foundation
import XCTest

/// The age format's published test vectors (C2SP/CCTV, Tests/fixtures/age-testkit): every one decrypts,
/// or fails, exactly as the vector says.
final class AgeVectorTests: XCTestCase {
    struct Vector {
        var name: String
        var expect: String
        var payloadSHA256: String?
        var identities: [String] = []
        var passphrases: [String] = []
        var file: [UInt8]
    }

    static let folder = (BackstopTestCase.packageRoot as NSString).appendingPathComponent("Tests/fixtures/age-testkit")

    static func load(_ name: String) throws -> Vector {
        let data = [UInt8](try Data(contentsOf: URL(fileURLWithPath: (folder as NSString).appendingPathComponent(name))))
        // "key: value" lines, a blank line, then the file (zlib-compressed when the vector says so).
        let blank = data.indices.first { data[$0] == 0x0A && $0 > 0 && data[$0 - 1] == 0x0A }!
        var vector = Vector(name: name, expect: "", file: Array(data[(blank + 1)...]))
        var compressed = false
        for line in String(decoding: data[..<blank], as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch parts[0] {
            case "expect": vector.expect = parts[1]
            case "payload": vector.payloadSHA256 = parts[1]
            case "identity": vector.identities.append(parts[1])
            case "passphrase": vector.passphrases.append(parts[1])
            case "compressed": compressed = parts[1] == "zlib"
            default: break
            }
        }
        if compressed { vector.file = try inflate(vector.file) }
        return vector
    }

    static func inflate(_ input: [UInt8]) throws -> [UInt8] {
        var length = uLongf(64 << 20)
        var out = [UInt8](repeating: 0, count: Int(length))
        guard uncompress(&out, &length, input, uLong(input.count)) == Z_OK else { throw AgeError(kind: .header, message: "bad zlib") }
        return Array(out[..<Int(length)])
    }

    /// Decrypts a whole file, as the testkit expects: the outcome's name.
    static func outcome(_ vector: Vector) -> (String, [UInt8]?) {
        var identities: [AgeIdentity] = []
        for text in vector.identities {
            guard let identity = try? AgeIdentity.parse(text) else { return ("bad identity in vector", nil) }
            identities.append(identity)
        }
        identities += vector.passphrases.map { .scrypt(passphrase: Array($0.utf8)) }
        let file = vector.file
        do {
            let reader = try AgeDecryptingReader(size: Int64(file.count), identities: identities) { buffer, offset in
                guard offset + Int64(buffer.count) <= Int64(file.count) else { throw AgeError(kind: .payload, message: "short") }
                file.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)])) }
            }
            var plaintext = [UInt8](repeating: 0, count: Int(reader.size))
            try plaintext.withUnsafeMutableBytes { try reader.read($0, at: 0) }
            return ("success", plaintext)
        } catch let error as AgeError {
            switch error.kind {
            case .header: return ("header failure", nil)
            case .noMatch: return ("no match", nil)
            case .hmac: return ("HMAC failure", nil)
            case .payload: return ("payload failure", nil)
            case .key: return ("key error: \(error)", nil)
            }
        } catch {
            return ("unexpected \(error)", nil)
        }
    }

    func testEveryVectorDecryptsOrFailsAsPublished() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.folder).filter { $0 != "README.md" }.sorted()
        XCTAssertGreaterThanOrEqual(names.count, 90, "the test vectors are missing")
        var outcomes: [String: Int] = [:]
        for name in names {
            let vector = try Self.load(name)
            let (outcome, plaintext) = Self.outcome(vector)
            XCTAssertEqual(outcome, vector.expect, name)
            outcomes[outcome, default: 0] += 1
            if outcome == "success", let expected = vector.payloadSHA256 {
                let hasher = SHA256Hasher()
                hasher.update(plaintext!)
                XCTAssertEqual(hasher.finalizeHex(), expected, "\(name): the plaintext's SHA-256")
            }
        }
        // Each kind of outcome is exercised (so a decryptor that fails everything cannot pass).
        XCTAssertEqual(outcomes["success"], 15)
        XCTAssertEqual(outcomes["header failure"], 51)
        XCTAssertEqual(outcomes["payload failure"], 18)
        XCTAssertEqual(outcomes["no match"], 7)
        XCTAssertEqual(outcomes["HMAC failure"], 1)
    }

    func testBech32KeysRoundTripAndRejectDamage() throws {
        let text = "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
        let identity = try AgeIdentity.parse(text)
        XCTAssertEqual(identity.encoded, text)
        let recipient = try XCTUnwrap(identity.recipient)
        XCTAssertEqual(try AgeRecipient.parse(recipient.description), recipient)
        XCTAssertTrue(recipient.description.hasPrefix("age1"))
        XCTAssertEqual(recipient.description.count, 62)
        // One character changed: the checksum catches it.
        var damaged = Array(text)
        damaged[30] = damaged[30] == "Q" ? "P" : "Q"
        XCTAssertThrowsError(try AgeIdentity.parse(String(damaged)))
        XCTAssertThrowsError(try AgeIdentity.parse(text.lowercased()), "a secret key is written in upper case")
        XCTAssertThrowsError(try AgeRecipient.parse(recipient.description.uppercased()))
        XCTAssertThrowsError(try AgeRecipient.parse("age1" + String(recipient.description.dropFirst(5))))
    }

    func testIdentityFilesNameTheBadLineWithoutShowingIt() throws {
        let secret = AgeIdentity.generate()
        let good = try XCTUnwrap(secret.fileText(created: "2026-11-24T00:00:00Z"))
        XCTAssertEqual(try AgeIdentity.parseFile(Data(good.utf8), path: "key.txt").count, 1)
        let bad = good + "AGE-SECRET-KEY-1NOTAKEYATALLBUTLOOKSSECRET\n"
        XCTAssertThrowsError(try AgeIdentity.parseFile(Data(bad.utf8), path: "key.txt")) { error in
            let message = "\(error)"
            XCTAssertTrue(message.contains("key.txt:4"), message)
            XCTAssertFalse(message.contains("NOTAKEY"), "the line's text must not be shown: \(message)")
        }
        XCTAssertThrowsError(try AgeIdentity.parseFile(Data("# only a comment\n".utf8), path: "empty.txt"))
        XCTAssertThrowsError(try AgeIdentity.parseRecipientsFile(Data((secret.encoded! + "\n").utf8), path: "r.txt")) { error in
            XCTAssertTrue("\(error)".contains("is a secret key, not a public key"), "\(error)")
            XCTAssertFalse("\(error)".contains(secret.encoded!))
        }
    }
}
