import Foundation

/// Who a file is encrypted to: an X25519 public key (`age1…`), or a passphrase (age's scrypt recipient).
public enum AgeRecipient: Sendable, Hashable, CustomStringConvertible {
    case x25519(publicKey: [UInt8])
    /// `workFactor` is scrypt's log2(N): age uses 18; each step doubles the time to derive the key.
    case scrypt(passphrase: [UInt8], workFactor: Int)

    public static let defaultWorkFactor = 18
    /// What decryptors accept (as age does): higher would take minutes and gigabytes to open.
    public static let maximumWorkFactor = 22

    /// Parses an `age1…` public key. Throws ``AgeError`` (kind `.key`) naming what is wrong, never the text.
    public static func parse(_ text: String) throws -> AgeRecipient {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let (hrp, data) = Bech32.decode(trimmed), hrp == "age", data.count == 32, trimmed == trimmed.lowercased() else {
            throw AgeError(kind: .key, message: "not an age public key (age1 followed by 58 characters)")
        }
        return .x25519(publicKey: data)
    }

    /// A passphrase recipient; the passphrase must not be empty.
    public static func passphrase(_ passphrase: [UInt8], workFactor: Int = defaultWorkFactor) throws -> AgeRecipient {
        guard !passphrase.isEmpty else { throw AgeError(kind: .key, message: "the passphrase is empty") }
        guard (1...maximumWorkFactor).contains(workFactor) else {
            throw AgeError(kind: .key, message: "the scrypt work factor must be between 1 and \(maximumWorkFactor)")
        }
        return .scrypt(passphrase: passphrase, workFactor: workFactor)
    }

    /// The `age1…` text of a public key; "passphrase" for a passphrase (which is never shown).
    public var description: String {
        switch self {
        case .x25519(let key): return Bech32.encode(hrp: "age", data: key)
        case .scrypt: return "passphrase"
        }
    }

    public var isPassphrase: Bool { if case .scrypt = self { return true } else { return false } }
}

/// What decrypts a file: an X25519 secret key (`AGE-SECRET-KEY-1…`) or a passphrase.
public enum AgeIdentity: Sendable, CustomStringConvertible {
    case x25519(secretKey: [UInt8])
    case scrypt(passphrase: [UInt8])

    /// A new X25519 key pair from the system's random number generator.
    public static func generate() -> AgeIdentity {
        while true {
            let secret = Crypto.random(32)
            if Crypto.x25519Public(privateKey: secret) != nil { return .x25519(secretKey: secret) }
        }
    }

    /// Parses one `AGE-SECRET-KEY-1…` line.
    public static func parse(_ text: String) throws -> AgeIdentity {
        guard let (hrp, data) = Bech32.decode(text), hrp == "age-secret-key-", data.count == 32, text == text.uppercased(),
              Crypto.x25519Public(privateKey: data) != nil else {
            throw AgeError(kind: .key, message: "not an age secret key (AGE-SECRET-KEY-1 followed by 58 characters)")
        }
        return .x25519(secretKey: data)
    }

    /// Parses an identity file as age-keygen writes it: `AGE-SECRET-KEY-1…` lines, `#` comments and
    /// blank lines. A bad line is named by its number, never shown (it may hold a secret).
    public static func parseFile(_ data: Data, path: String) throws -> [AgeIdentity] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw AgeError(kind: .key, message: "\(path) is not an age identity file (not UTF-8 text)")
        }
        var identities: [AgeIdentity] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(raw)
            if line.hasSuffix("\r") { line = line.dropLast() }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            do { identities.append(try parse(trimmed)) } catch {
                throw AgeError(kind: .key, message: "\(path):\(number + 1): not an age secret key (AGE-SECRET-KEY-1…); identity files hold one per line, with # comments")
            }
        }
        guard !identities.isEmpty else { throw AgeError(kind: .key, message: "\(path) holds no age secret key (AGE-SECRET-KEY-1…)") }
        return identities
    }

    /// Parses a recipients file as `age -R` reads it: `age1…` lines, `#` comments and blank lines.
    public static func parseRecipientsFile(_ data: Data, path: String) throws -> [AgeRecipient] {
        guard let text = String(data: data, encoding: .utf8) else {
            throw AgeError(kind: .key, message: "\(path) is not a recipients file (not UTF-8 text)")
        }
        var recipients: [AgeRecipient] = []
        for (number, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            if trimmed.uppercased().hasPrefix("AGE-SECRET-KEY-") {
                throw AgeError(kind: .key, message: "\(path):\(number + 1) is a secret key, not a public key: give the age1… public key (age-keygen -y, or 'backstop key generate' printed it)")
            }
            do { recipients.append(try AgeRecipient.parse(trimmed)) } catch {
                throw AgeError(kind: .key, message: "\(path):\(number + 1): not an age public key (age1…)")
            }
        }
        guard !recipients.isEmpty else { throw AgeError(kind: .key, message: "\(path) holds no age public key (age1…)") }
        return recipients
    }

    /// The secret key as an identity file line; nil for a passphrase.
    public var encoded: String? {
        guard case .x25519(let secret) = self else { return nil }
        return Bech32.encode(hrp: "age-secret-key-", data: secret, uppercase: true)
    }

    /// The recipient that encrypts to this identity; nil for a passphrase.
    public var recipient: AgeRecipient? {
        guard case .x25519(let secret) = self, let key = Crypto.x25519Public(privateKey: secret) else { return nil }
        return .x25519(publicKey: key)
    }

    /// The identity file text, as age-keygen writes it.
    public func fileText(created: String) -> String? {
        guard let encoded, let recipient else { return nil }
        return "# created: \(created)\n# public key: \(recipient)\n\(encoded)\n"
    }

    /// Safe to print: the public key, or "passphrase".
    public var description: String { recipient?.description ?? "passphrase" }
}
