@testable import BackstopAge
import BackstopCodec
import BackstopTestSupport
import Foundation
import XCTest

/// Encrypting and decrypting with Backstop's age, and with Debian's age CLI on the other side.
final class AgeRoundTripTests: BackstopTestCase {
    func encrypt(_ plaintext: [UInt8], to recipients: [AgeRecipient], pieces: Int = 7919) throws -> [UInt8] {
        var out: [UInt8] = []
        let age = try AgeEncryptor(recipients: recipients) { out += $0 }
        var offset = 0
        // Odd-sized pieces, so chunk and batch boundaries fall inside appends.
        while offset < plaintext.count {
            let n = min(pieces, plaintext.count - offset)
            try plaintext.withUnsafeBytes { try age.append(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
            offset += n
        }
        try age.finish()
        XCTAssertEqual(age.writtenBytes, Int64(out.count))
        return out
    }

    func reader(_ file: [UInt8], _ identities: [AgeIdentity], onEncrypted: ((UnsafeRawBufferPointer) -> Void)? = nil) throws -> AgeDecryptingReader {
        try AgeDecryptingReader(size: Int64(file.count), identities: identities, onEncrypted: onEncrypted) { buffer, offset in
            guard offset >= 0, offset + Int64(buffer.count) <= Int64(file.count) else { throw AgeError(kind: .payload, message: "short read") }
            file.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)])) }
        }
    }

    func decrypt(_ file: [UInt8], _ identities: [AgeIdentity]) throws -> [UInt8] {
        let r = try reader(file, identities)
        var out = [UInt8](repeating: 0, count: Int(r.size))
        try out.withUnsafeMutableBytes { try r.read($0, at: 0) }
        return out
    }

    static func pseudoRandom(_ count: Int, seed: UInt64) -> [UInt8] {
        var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
        return (0..<count).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }

    func testEveryChunkBoundaryRoundTrips() throws {
        let identity = AgeIdentity.generate()
        let chunk = AgePayload.chunkSize
        for size in [0, 1, chunk - 1, chunk, chunk + 1, 2 * chunk, 16 * chunk, 16 * chunk + 1, 33 * chunk + 5] {
            let plaintext = Self.pseudoRandom(size, seed: UInt64(size + 1))
            let file = try encrypt(plaintext, to: [identity.recipient!])
            XCTAssertEqual(try decrypt(file, [identity]), plaintext, "size \(size)")
            // The file is exactly as long as age's format makes it.
            let chunks = max(1, (size + chunk - 1) / chunk)
            let headerLength = try AgeHeader.read(size: Int64(file.count)) { buffer, offset in
                file.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)])) }
            }.length
            XCTAssertEqual(file.count, headerLength + 16 + size + 16 * chunks, "size \(size)")
        }
    }

    func testRandomAccessReadsMatchThePlaintext() throws {
        let identity = AgeIdentity.generate()
        let plaintext = Self.pseudoRandom(40 * AgePayload.chunkSize + 123, seed: 7)
        let r = try reader(try encrypt(plaintext, to: [identity.recipient!]), [identity])
        XCTAssertEqual(r.size, Int64(plaintext.count))
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let offset = Int.random(in: 0..<plaintext.count, using: &generator)
            let count = Int.random(in: 0...min(200_000, plaintext.count - offset), using: &generator)
            var buffer = [UInt8](repeating: 0, count: count)
            try buffer.withUnsafeMutableBytes { try r.read($0, at: Int64(offset)) }
            XCTAssertEqual(buffer[...], plaintext[offset..<(offset + count)])
        }
        var past = [UInt8](repeating: 0, count: 2)
        XCTAssertThrowsError(try past.withUnsafeMutableBytes { try r.read($0, at: Int64(plaintext.count - 1)) })
    }

    func testTheEncryptedBytesAreFedInOrderWhateverTheReads() throws {
        let identity = AgeIdentity.generate()
        let file = try encrypt(Self.pseudoRandom(50 * AgePayload.chunkSize, seed: 3), to: [identity.recipient!])
        let hasher = SHA256Hasher()
        let r = try reader(file, [identity], onEncrypted: { hasher.update($0) })
        // Reads out of order, then the rest is fed.
        var buffer = [UInt8](repeating: 0, count: 1000)
        for offset in [Int64(30 * AgePayload.chunkSize), 0, 5, Int64(70_000), Int64(20 * AgePayload.chunkSize)] {
            try buffer.withUnsafeMutableBytes { try r.read($0, at: offset) }
        }
        try r.feedRemainingEncrypted()
        let whole = SHA256Hasher()
        whole.update(file)
        XCTAssertEqual(hasher.finalizeHex(), whole.finalizeHex())
    }

    /// The whole file an encrypting reader presents, read in pieces of `piece` bytes.
    func readAll(_ r: AgeEncryptingReader, piece: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(r.size))
        var offset = 0
        while offset < out.count {
            let n = min(piece, out.count - offset)
            try out.withUnsafeMutableBytes { try r.read(UnsafeMutableRawBufferPointer(rebasing: $0[offset..<(offset + n)]), at: Int64(offset)) }
            offset += n
        }
        return out
    }

    func encryptingReader(_ plaintext: [UInt8], to recipients: [AgeRecipient]) throws -> AgeEncryptingReader {
        try AgeEncryptingReader(recipients: recipients, plaintextSize: Int64(plaintext.count)) { buffer, offset in
            plaintext.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)])) }
        }
    }

    /// An encryption read at random offsets, as an upload in parallel parts reads it: the same bytes at the
    /// same offsets every time, an age file of the size age's format gives, which decrypts to the plaintext.
    func testEncryptingReaderIsAStableAgeFileAtEveryOffset() throws {
        let identity = AgeIdentity.generate()
        let chunk = AgePayload.chunkSize
        for size in [0, 1, chunk - 1, chunk, chunk + 1, 40 * chunk + 123] {
            let plaintext = Self.pseudoRandom(size, seed: UInt64(size) + 5)
            let r = try encryptingReader(plaintext, to: [identity.recipient!])
            XCTAssertEqual(r.plaintextSize, Int64(size))
            let whole = try readAll(r, piece: 1 << 20)
            XCTAssertEqual(whole.count, Int(r.size))
            let headerLength = try AgeHeader.read(size: Int64(whole.count)) { buffer, offset in
                whole.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[Int(offset)..<(Int(offset) + buffer.count)])) }
            }.length
            XCTAssertEqual(whole.count, headerLength + 16 + size + 16 * max(1, (size + chunk - 1) / chunk), "size \(size)")
            XCTAssertEqual(try decrypt(whole, [identity]), plaintext, "size \(size)")
            // Odd pieces (boundaries inside the header, the nonce and chunks) read the same bytes.
            XCTAssertEqual(try readAll(r, piece: 7919), whole, "size \(size)")
            var generator = SystemRandomNumberGenerator()
            for _ in 0..<50 where !whole.isEmpty {
                let offset = Int.random(in: 0..<whole.count, using: &generator)
                let count = Int.random(in: 0...min(300_000, whole.count - offset), using: &generator)
                var buffer = [UInt8](repeating: 0, count: count)
                try buffer.withUnsafeMutableBytes { try r.read($0, at: Int64(offset)) }
                XCTAssertEqual(buffer[...], whole[offset..<(offset + count)], "size \(size) at \(offset)+\(count)")
            }
            var past = [UInt8](repeating: 0, count: 2)
            XCTAssertThrowsError(try past.withUnsafeMutableBytes { try r.read($0, at: r.size - 1) })
        }
        // A new reader is a new encryption (a new file key): never the same bytes twice.
        let plaintext = Self.pseudoRandom(1000, seed: 1)
        XCTAssertNotEqual(try readAll(try encryptingReader(plaintext, to: [identity.recipient!]), piece: 4096),
                          try readAll(try encryptingReader(plaintext, to: [identity.recipient!]), piece: 4096))
    }

    func testDamageTruncationAndWrongKeysAreErrorsNeverPlaintext() throws {
        let identity = AgeIdentity.generate()
        let plaintext = Self.pseudoRandom(3 * AgePayload.chunkSize + 10, seed: 11)
        let file = try encrypt(plaintext, to: [identity.recipient!])
        // A flipped bit in the second chunk: that chunk does not authenticate.
        var flipped = file
        flipped[file.count - AgePayload.chunkSize - 100] ^= 0x04
        XCTAssertThrowsError(try decrypt(flipped, [identity])) { XCTAssertEqual(($0 as? AgeError)?.kind, .payload) }
        // Cut at a chunk boundary: the chunk that is now last was not sealed as the last.
        let cut = Array(file.prefix(file.count - (10 + 16)))
        XCTAssertThrowsError(try decrypt(cut, [identity])) { XCTAssertEqual(($0 as? AgeError)?.kind, .payload) }
        // Trailing bytes.
        XCTAssertThrowsError(try decrypt(file + [0], [identity])) { XCTAssertEqual(($0 as? AgeError)?.kind, .payload) }
        // Another key, or a passphrase, unwraps nothing.
        XCTAssertThrowsError(try decrypt(file, [AgeIdentity.generate(), .scrypt(passphrase: Array("x".utf8))])) {
            XCTAssertEqual(($0 as? AgeError)?.kind, .noMatch)
        }
        // A changed header fails its MAC.
        var header = file
        let arrow = header.firstIndex(of: UInt8(ascii: ">"))!
        header[arrow + 2] = UInt8(ascii: "x")   // "X25519" -> "x25519": the stanza is someone else's
        XCTAssertThrowsError(try decrypt(header, [identity])) { XCTAssertEqual(($0 as? AgeError)?.kind, .noMatch) }
    }

    func testPassphrasesAndSeveralRecipients() throws {
        let plaintext = Self.pseudoRandom(100_000, seed: 5)
        let passphrase = try AgeRecipient.passphrase(Array("correct horse battery staple".utf8), workFactor: 10)
        let file = try encrypt(plaintext, to: [passphrase])
        XCTAssertEqual(try decrypt(file, [.scrypt(passphrase: Array("correct horse battery staple".utf8))]), plaintext)
        XCTAssertThrowsError(try decrypt(file, [.scrypt(passphrase: Array("wrong".utf8))])) { XCTAssertEqual(($0 as? AgeError)?.kind, .noMatch) }
        XCTAssertThrowsError(try encrypt(plaintext, to: [passphrase, AgeIdentity.generate().recipient!])) { error in
            XCTAssertTrue("\(error)".contains("cannot be combined"), "\(error)")
        }
        let a = AgeIdentity.generate(), b = AgeIdentity.generate()
        let both = try encrypt(plaintext, to: [a.recipient!, b.recipient!])
        XCTAssertEqual(try decrypt(both, [b]), plaintext)
        XCTAssertEqual(try decrypt(both, [a]), plaintext)
    }

    // MARK: - The age CLI

    static let age = "/usr/bin/age", keygen = "/usr/bin/age-keygen"

    func requireAgeCLI() throws {
        guard FileManager.default.isExecutableFile(atPath: Self.age), FileManager.default.isExecutableFile(atPath: Self.keygen) else {
            XCTFail("the age CLI is missing: 'make test' installs it (Debian package age)")
            throw XCTSkip("no age")
        }
    }

    func testTheAgeCLIDecryptsWhatBackstopEncrypts() throws {
        try requireAgeCLI()
        let identity = AgeIdentity.generate()
        try identity.fileText(created: "2026-11-24T00:00:00Z")!.write(toFile: path("key.txt"), atomically: true, encoding: .utf8)
        let other = try run(Self.keygen, ["-o", path("other.txt")])
        XCTAssertEqual(other.status, 0, other.stderr)
        let otherRecipient = try run(Self.keygen, ["-y", path("other.txt")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for size in [0, 1000, 5 * AgePayload.chunkSize, 5 * AgePayload.chunkSize + 1] {
            let plaintext = Self.pseudoRandom(size, seed: UInt64(size))
            let file = try encrypt(plaintext, to: [identity.recipient!, try AgeRecipient.parse(otherRecipient)])
            try Data(file).write(to: URL(fileURLWithPath: path("x.age")))
            for key in ["key.txt", "other.txt"] {
                unlink(path("x.out"))
                let result = try run(Self.age, ["-d", "-i", path(key), "-o", path("x.out"), path("x.age")])
                XCTAssertEqual(result.status, 0, "size \(size), \(key): \(result.stderr)")
                // age creates its output file with the first byte it writes: none for an empty file.
                let out = FileManager.default.contents(atPath: path("x.out")).map { [UInt8]($0) } ?? []
                XCTAssertEqual(out, plaintext, "size \(size), \(key)")
            }
        }
        // And age says the same as Backstop about the public key.
        let derived = try run(Self.keygen, ["-y", path("key.txt")])
        XCTAssertEqual(derived.stdout.trimmingCharacters(in: .whitespacesAndNewlines), identity.recipient!.description)
    }

    func testTheAgeCLIDecryptsWhatTheEncryptingReaderReads() throws {
        try requireAgeCLI()
        XCTAssertEqual(try run(Self.keygen, ["-o", path("key.txt")]).status, 0)
        let recipient = try AgeRecipient.parse(try run(Self.keygen, ["-y", path("key.txt")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        for size in [0, 3 * AgePayload.chunkSize + 77] {
            let plaintext = Self.pseudoRandom(size, seed: UInt64(size) + 3)
            try Data(try readAll(try encryptingReader(plaintext, to: [recipient]), piece: 10_000)).write(to: URL(fileURLWithPath: path("r.age")))
            unlink(path("r.out"))
            let result = try run(Self.age, ["-d", "-i", path("key.txt"), "-o", path("r.out"), path("r.age")])
            XCTAssertEqual(result.status, 0, "size \(size): \(result.stderr)")
            XCTAssertEqual(FileManager.default.contents(atPath: path("r.out")).map { [UInt8]($0) } ?? [], plaintext, "size \(size)")
        }
    }

    func testBackstopDecryptsWhatTheAgeCLIEncrypts() throws {
        try requireAgeCLI()
        XCTAssertEqual(try run(Self.keygen, ["-o", path("key.txt")]).status, 0)
        let identities = try AgeIdentity.parseFile(try Data(contentsOf: URL(fileURLWithPath: path("key.txt"))), path: "key.txt")
        let recipient = try run(Self.keygen, ["-y", path("key.txt")]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for size in [0, 1, AgePayload.chunkSize, 3 * AgePayload.chunkSize + 77] {
            let plaintext = Self.pseudoRandom(size, seed: UInt64(size) + 99)
            try Data(plaintext).write(to: URL(fileURLWithPath: path("in")))
            let result = try run(Self.age, ["-r", recipient, "-o", path("in.age"), path("in")])
            XCTAssertEqual(result.status, 0, result.stderr)
            let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("in.age"))))
            XCTAssertEqual(try decrypt(file, identities), plaintext, "size \(size)")
        }
    }

    /// age reads passphrases from a terminal only: script(1) gives it one.
    func testPassphrasesInteroperateWithTheAgeCLI() throws {
        try requireAgeCLI()
        let plaintext = Self.pseudoRandom(200_000, seed: 42)
        let file = try encrypt(plaintext, to: [try AgeRecipient.passphrase(Array("hunter2 hunter2".utf8), workFactor: 12)])
        try Data(file).write(to: URL(fileURLWithPath: path("p.age")))
        let result = try run("/usr/bin/script", ["-qec", "\(Self.age) -d -o \(path("p.out")) \(path("p.age"))", "/dev/null"],
                             stdin: "hunter2 hunter2\n")
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertEqual([UInt8](try Data(contentsOf: URL(fileURLWithPath: path("p.out")))), plaintext)

        try Data(plaintext).write(to: URL(fileURLWithPath: path("q")))
        let encrypted = try run("/usr/bin/script", ["-qec", "\(Self.age) -p -o \(path("q.age")) \(path("q"))", "/dev/null"],
                                stdin: "swordfish swordfish\nswordfish swordfish\n")
        XCTAssertEqual(encrypted.status, 0, encrypted.stdout + encrypted.stderr)
        let fromAge = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path("q.age"))))
        XCTAssertEqual(try decrypt(fromAge, [.scrypt(passphrase: Array("swordfish swordfish".utf8))]), plaintext)
    }
}
