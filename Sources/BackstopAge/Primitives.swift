import CCrypto
import Foundation

/// Why an age file or key could not be used.
public struct AgeError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The header cannot be parsed (or breaks the format's rules).
        case header
        /// No identity given unwraps the file key (a wrong or missing key or passphrase).
        case noMatch
        /// The header's MAC does not match: the header was changed.
        case hmac
        /// The payload does not decrypt: damaged, truncated or changed.
        case payload
        /// A key, recipient or identity file cannot be read.
        case key
    }
    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    static func header(_ message: String) -> AgeError { AgeError(kind: .header, message: "the age header is not valid: \(message)") }
}

/// The primitives age is built on, from libcrypto: X25519, HKDF-SHA-256, HMAC-SHA-256,
/// ChaCha20-Poly1305 and scrypt. Nothing here is invented: each is the standard construction.
enum Crypto {
    static func random(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        precondition(RAND_bytes(&bytes, Int32(count)) == 1, "the system's random number generator failed")
        return bytes
    }

    /// HKDF-SHA-256 (RFC 5869).
    static func hkdf(ikm: [UInt8], salt: [UInt8], info: [UInt8], length: Int = 32) -> [UInt8] {
        guard let context = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nil) else { fatalError("libcrypto has no HKDF") }
        defer { EVP_PKEY_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: length)
        var outLength = length
        guard EVP_PKEY_derive_init(context) == 1,
              EVP_PKEY_CTX_set_hkdf_md(context, EVP_sha256()) == 1,
              EVP_PKEY_CTX_set1_hkdf_salt(context, salt.isEmpty ? [0] : salt, Int32(salt.count)) == 1,
              EVP_PKEY_CTX_set1_hkdf_key(context, ikm, Int32(ikm.count)) == 1,
              EVP_PKEY_CTX_add1_hkdf_info(context, info, Int32(info.count)) == 1,
              EVP_PKEY_derive(context, &out, &outLength) == 1, outLength == length else {
            fatalError("HKDF-SHA-256 failed in libcrypto")
        }
        return out
    }

    /// HMAC-SHA-256.
    static func hmac(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        guard HMAC(EVP_sha256(), key, Int32(key.count), message, message.count, &out, &length) != nil, length == 32 else {
            fatalError("HMAC-SHA-256 failed in libcrypto")
        }
        return out
    }

    /// ChaCha20-Poly1305 (RFC 8439): `plaintext` sealed, the 16-byte tag appended.
    static func seal(key: [UInt8], nonce: [UInt8], plaintext: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(key.count == 32 && nonce.count == 12 && out.count == plaintext.count + 16)
        guard let context = EVP_CIPHER_CTX_new() else { fatalError("libcrypto cannot allocate a cipher") }
        defer { EVP_CIPHER_CTX_free(context) }
        var length: Int32 = 0
        let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
        guard EVP_EncryptInit_ex(context, EVP_chacha20_poly1305(), nil, nil, nil) == 1,
              backstop_aead_set_ivlen(context, 12) == 1,
              EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1,
              plaintext.isEmpty || EVP_EncryptUpdate(context, base, &length, plaintext.baseAddress!.assumingMemoryBound(to: UInt8.self), Int32(plaintext.count)) == 1,
              EVP_EncryptFinal_ex(context, base + Int(length), &length) == 1,
              backstop_aead_get_tag(context, base + plaintext.count, 16) == 1 else {
            fatalError("ChaCha20-Poly1305 failed in libcrypto")
        }
    }

    static func seal(key: [UInt8], nonce: [UInt8], plaintext: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: plaintext.count + 16)
        plaintext.withUnsafeBytes { p in out.withUnsafeMutableBytes { seal(key: key, nonce: nonce, plaintext: p, into: $0) } }
        return out
    }

    /// Opens a ChaCha20-Poly1305 box (ciphertext then the 16-byte tag); false when it does not authenticate.
    static func open(key: [UInt8], nonce: [UInt8], sealed: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) -> Bool {
        guard key.count == 32, nonce.count == 12, sealed.count >= 16, out.count == sealed.count - 16 else { return false }
        guard let context = EVP_CIPHER_CTX_new() else { return false }
        defer { EVP_CIPHER_CTX_free(context) }
        var length: Int32 = 0
        let input = sealed.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var tag = Array(UnsafeRawBufferPointer(rebasing: sealed[(sealed.count - 16)...]))
        var scratch: UInt8 = 0
        let base = out.count > 0 ? out.baseAddress!.assumingMemoryBound(to: UInt8.self) : withUnsafeMutablePointer(to: &scratch) { $0 }
        guard EVP_DecryptInit_ex(context, EVP_chacha20_poly1305(), nil, nil, nil) == 1,
              backstop_aead_set_ivlen(context, 12) == 1,
              EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1,
              out.count == 0 || EVP_DecryptUpdate(context, base, &length, input, Int32(out.count)) == 1,
              backstop_aead_set_tag(context, &tag, 16) == 1 else { return false }
        return EVP_DecryptFinal_ex(context, base + Int(length), &length) == 1
    }

    static func open(key: [UInt8], nonce: [UInt8], sealed: [UInt8]) -> [UInt8]? {
        guard sealed.count >= 16 else { return nil }
        var out = [UInt8](repeating: 0, count: sealed.count - 16)
        let ok = sealed.withUnsafeBytes { s in out.withUnsafeMutableBytes { open(key: key, nonce: nonce, sealed: s, into: $0) } }
        return ok ? out : nil
    }

    /// X25519 (RFC 7748): the shared secret of a private scalar and a peer's public point.
    static func x25519(privateKey: [UInt8], peer: [UInt8]) -> [UInt8]? {
        guard let own = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, privateKey, privateKey.count),
              let other = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nil, peer, peer.count) else { return nil }
        defer { EVP_PKEY_free(own); EVP_PKEY_free(other) }
        guard let context = EVP_PKEY_CTX_new(own, nil) else { return nil }
        defer { EVP_PKEY_CTX_free(context) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_derive_init(context) == 1, EVP_PKEY_derive_set_peer(context, other) == 1,
              EVP_PKEY_derive(context, &out, &length) == 1, length == 32 else { return nil }
        return out
    }

    /// The X25519 public point of a private scalar.
    static func x25519Public(privateKey: [UInt8]) -> [UInt8]? {
        guard let key = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nil, privateKey, privateKey.count) else { return nil }
        defer { EVP_PKEY_free(key) }
        var out = [UInt8](repeating: 0, count: 32)
        var length = 32
        guard EVP_PKEY_get_raw_public_key(key, &out, &length) == 1, length == 32 else { return nil }
        return out
    }

    /// scrypt (RFC 7914) with r = 8, p = 1.
    static func scrypt(password: [UInt8], salt: [UInt8], logN: Int, length: Int = 32) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: length)
        let n = UInt64(1) << UInt64(logN)
        let memory = UInt64(128 * 8) * n + (1 << 20)
        guard EVP_PBE_scrypt(password.map { CChar(bitPattern: $0) }, password.count, salt, salt.count, n, 8, 1, memory, &out, length) == 1 else {
            return nil
        }
        return out
    }

    /// Compares in constant time.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.count == b.count && CRYPTO_memcmp(a, b, a.count) == 0
    }
}

/// Base64 as age writes it: the standard alphabet, no padding, canonical (no stray bits).
enum AgeBase64 {
    static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// Decodes, refusing padding, characters outside the alphabet and non-canonical encodings.
    static func decode(_ text: String) -> [UInt8]? {
        guard !text.contains("="), text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "+" || $0 == "/") }) else { return nil }
        if text.count % 4 == 1 { return nil }
        let padded = text + String(repeating: "=", count: (4 - text.count % 4) % 4)
        guard let data = Data(base64Encoded: padded) else { return nil }
        let bytes = [UInt8](data)
        return encode(bytes) == text ? bytes : nil
    }
}
