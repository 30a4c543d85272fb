import Foundation

/// One recipient stanza of an age header: `-> TYPE ARG…` and a base64 body.
struct AgeStanza: Equatable {
    var type: String
    var arguments: [String]
    var body: [UInt8]
}

/// An age header (age-encryption.org/v1): the stanzas that wrap the file key, and the MAC over them.
///
/// ```text
/// age-encryption.org/v1
/// -> X25519 <ephemeral share>
/// <wrapped file key>
/// --- <HMAC-SHA-256 of everything above, through "---">
/// ```
struct AgeHeader {
    static let versionLine = "age-encryption.org/v1"
    /// Headers longer than this are refused (a real one is a few hundred bytes per recipient).
    static let maximumSize = 1 << 20

    var stanzas: [AgeStanza]
    var mac: [UInt8]
    /// The header's bytes that the MAC covers: from the version line through "---".
    var macInput: [UInt8]
    /// The whole header's length, through the newline after the MAC: the payload starts here.
    var length: Int

    // MARK: - Parsing

    /// Parses a header from the start of `bytes`; returns nil when `bytes` ends before the header does
    /// (read more), and throws a `.header` ``AgeError`` when it is not a valid header.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws -> AgeHeader? {
        var position = 0
        /// The next line without its newline, or nil when no newline follows yet.
        func nextLine() -> ArraySlice<UInt8>? {
            guard let newline = bytes[position...].firstIndex(of: 0x0A) else { return nil }
            let line = Array(bytes[position..<newline])[...]
            position = newline + 1
            return line
        }
        guard let version = nextLine() else { return try incomplete(bytes) }
        guard String(decoding: version, as: UTF8.self) == versionLine, version.allSatisfy({ $0 < 0x80 }) else {
            throw AgeError.header(version.starts(with: Array("age-encryption.org/".utf8)) ? "unsupported version" : "not an age file")
        }
        var stanzas: [AgeStanza] = []
        while true {
            let lineStart = position
            guard let line = nextLine() else { return try incomplete(bytes) }
            if line.starts(with: Array("---".utf8)) {
                guard line.count == 4 + 43, line[line.startIndex + 3] == 0x20 else { throw AgeError.header("malformed MAC line") }
                guard let mac = AgeBase64.decode(String(decoding: line.dropFirst(4), as: UTF8.self)), mac.count == 32 else {
                    throw AgeError.header("the MAC is not canonical base64 of 32 bytes")
                }
                return AgeHeader(stanzas: stanzas, mac: mac, macInput: Array(bytes[0..<(lineStart + 3)]), length: position)
            }
            guard line.starts(with: Array("-> ".utf8)) else { throw AgeError.header("a line that is neither a stanza nor the MAC") }
            let words = line.dropFirst(3).split(separator: 0x20, omittingEmptySubsequences: false)
            guard !words.isEmpty, words.allSatisfy({ !$0.isEmpty && $0.allSatisfy { (0x21...0x7E).contains($0) } }) else {
                throw AgeError.header("a stanza with an empty or invalid argument")
            }
            var text = ""
            while true {
                guard let bodyLine = nextLine() else { return try incomplete(bytes) }
                guard bodyLine.count <= 64, bodyLine.allSatisfy(isBase64Character) else {
                    throw AgeError.header("a stanza body line that is too long or not base64")
                }
                text += String(decoding: bodyLine, as: UTF8.self)
                if bodyLine.count < 64 { break }
            }
            guard let body = AgeBase64.decode(text) else { throw AgeError.header("a stanza body that is not canonical base64") }
            let strings = words.map { String(decoding: $0, as: UTF8.self) }
            stanzas.append(AgeStanza(type: strings[0], arguments: Array(strings.dropFirst()), body: body))
        }
    }

    private static func incomplete(_ bytes: UnsafeRawBufferPointer) throws -> AgeHeader? {
        guard bytes.count < maximumSize else { throw AgeError.header("longer than \(maximumSize) bytes") }
        return nil
    }

    private static func isBase64Character(_ c: UInt8) -> Bool {
        (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) || (0x30...0x39).contains(c) || c == 0x2B || c == 0x2F
    }

    /// Reads and parses the header at the start of a file of `size` bytes.
    static func read(size: Int64, read: (UnsafeMutableRawBufferPointer, Int64) throws -> Void) throws -> AgeHeader {
        var buffer: [UInt8] = []
        var want = 4096
        while true {
            let count = Int(min(Int64(want), size))
            if count > buffer.count {
                var more = [UInt8](repeating: 0, count: count - buffer.count)
                try more.withUnsafeMutableBytes { try read($0, Int64(buffer.count)) }
                buffer += more
            }
            if let header = try buffer.withUnsafeBytes({ try parse($0) }) { return header }
            guard Int64(count) < size else { throw AgeError.header(size == 0 ? "the file is empty" : "the file ends inside the header") }
            want *= 4
        }
    }

    // MARK: - Writing

    /// The header for `fileKey` wrapped to each recipient.
    static func make(fileKey: [UInt8], recipients: [AgeRecipient]) throws -> [UInt8] {
        guard !recipients.isEmpty else { throw AgeError(kind: .key, message: "no recipient to encrypt to") }
        if recipients.contains(where: \.isPassphrase) && recipients.count > 1 {
            throw AgeError(kind: .key, message: "a passphrase cannot be combined with other recipients: the age format allows a passphrase-encrypted file no other recipient")
        }
        var text = versionLine + "\n"
        for recipient in recipients {
            let stanza = try wrap(fileKey, to: recipient)
            text += "-> " + ([stanza.type] + stanza.arguments).joined(separator: " ") + "\n"
            var body = AgeBase64.encode(stanza.body)[...]
            while body.count >= 64 {
                text += body.prefix(64) + "\n"
                body = body.dropFirst(64)
            }
            text += body + "\n"
        }
        text += "---"
        let mac = Crypto.hmac(key: macKey(fileKey), message: Array(text.utf8))
        return Array((text + " " + AgeBase64.encode(mac) + "\n").utf8)
    }

    static func macKey(_ fileKey: [UInt8]) -> [UInt8] {
        Crypto.hkdf(ikm: fileKey, salt: [], info: Array("header".utf8))
    }

    private static let x25519Label = Array("age-encryption.org/v1/X25519".utf8)
    private static let scryptLabel = Array("age-encryption.org/v1/scrypt".utf8)
    private static let zeroNonce = [UInt8](repeating: 0, count: 12)

    private static func wrap(_ fileKey: [UInt8], to recipient: AgeRecipient) throws -> AgeStanza {
        switch recipient {
        case .x25519(let publicKey):
            while true {
                let ephemeral = Crypto.random(32)
                guard let share = Crypto.x25519Public(privateKey: ephemeral) else { continue }
                guard let shared = Crypto.x25519(privateKey: ephemeral, peer: publicKey), shared.contains(where: { $0 != 0 }) else {
                    throw AgeError(kind: .key, message: "the public key \(recipient) is not usable (a low-order point)")
                }
                let key = Crypto.hkdf(ikm: shared, salt: share + publicKey, info: x25519Label)
                return AgeStanza(type: "X25519", arguments: [AgeBase64.encode(share)], body: Crypto.seal(key: key, nonce: zeroNonce, plaintext: fileKey))
            }
        case .scrypt(let passphrase, let workFactor):
            let salt = Crypto.random(16)
            guard let key = Crypto.scrypt(password: passphrase, salt: scryptLabel + salt, logN: workFactor) else {
                throw AgeError(kind: .key, message: "scrypt failed (work factor \(workFactor) needs more memory than allowed)")
            }
            return AgeStanza(type: "scrypt", arguments: [AgeBase64.encode(salt), String(workFactor)],
                             body: Crypto.seal(key: key, nonce: zeroNonce, plaintext: fileKey))
        }
    }

    // MARK: - Unwrapping

    /// The file key, unwrapped by one of `identities` and checked against the MAC.
    func fileKey(identities: [AgeIdentity]) throws -> [UInt8] {
        if stanzas.contains(where: { $0.type == "scrypt" }) && stanzas.count != 1 {
            throw AgeError.header("a passphrase (scrypt) stanza must be alone in the header")
        }
        for stanza in stanzas {
            for identity in identities {
                if let key = try AgeHeader.unwrap(stanza, with: identity) {
                    guard Crypto.equal(Crypto.hmac(key: AgeHeader.macKey(key), message: macInput), mac) else {
                        throw AgeError(kind: .hmac, message: "the age header's MAC does not match: the header was changed or damaged")
                    }
                    return key
                }
            }
        }
        throw AgeError(kind: .noMatch, message: "no identity given decrypts it")
    }

    /// The file key if `identity` unwraps `stanza`; nil when the stanza is not for it.
    private static func unwrap(_ stanza: AgeStanza, with identity: AgeIdentity) throws -> [UInt8]? {
        switch identity {
        case .x25519(let secret):
            guard stanza.type == "X25519" else { return nil }
            guard stanza.arguments.count == 1, let share = AgeBase64.decode(stanza.arguments[0]), share.count == 32 else {
                throw AgeError.header("an X25519 stanza needs one argument, a 32-byte share")
            }
            guard stanza.body.count == 32 else { throw AgeError.header("an X25519 stanza must wrap a 16-byte file key") }
            guard let shared = Crypto.x25519(privateKey: secret, peer: share), shared.contains(where: { $0 != 0 }),
                  let own = Crypto.x25519Public(privateKey: secret) else {
                throw AgeError.header("an X25519 share that is a low-order point")
            }
            let key = Crypto.hkdf(ikm: shared, salt: share + own, info: x25519Label)
            return Crypto.open(key: key, nonce: zeroNonce, sealed: stanza.body)
        case .scrypt(let passphrase):
            guard stanza.type == "scrypt" else { return nil }
            guard stanza.arguments.count == 2, let salt = AgeBase64.decode(stanza.arguments[0]), salt.count == 16 else {
                throw AgeError.header("a scrypt stanza needs two arguments, a 16-byte salt and a work factor")
            }
            let factor = stanza.arguments[1]
            guard let first = factor.utf8.first, (UInt8(ascii: "1")...UInt8(ascii: "9")).contains(first),
                  factor.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
                  factor.utf8.count <= 2, let workFactor = Int(factor) else {
                throw AgeError.header("a scrypt work factor that is not a decimal number")
            }
            guard workFactor <= AgeRecipient.maximumWorkFactor else {
                throw AgeError.header("a scrypt work factor of \(workFactor), above the \(AgeRecipient.maximumWorkFactor) age accepts")
            }
            guard stanza.body.count == 32 else { throw AgeError.header("a scrypt stanza must wrap a 16-byte file key") }
            guard let key = Crypto.scrypt(password: passphrase, salt: scryptLabel + salt, logN: workFactor) else {
                throw AgeError(kind: .key, message: "scrypt failed with work factor \(workFactor)")
            }
            return Crypto.open(key: key, nonce: zeroNonce, sealed: stanza.body)
        }
    }
}
