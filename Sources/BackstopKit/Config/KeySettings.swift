import BackstopAge
import BackstopCore
import BackstopStore
import Foundation

/// Where a store's keys come from, before any file is read: public keys and files named in
/// `backstop.toml`, and the identity and passphrase files given by flags, the environment or the file.
///
/// Recipients (whom new snapshots are encrypted to) come from the configuration only, so that a flag
/// given to read an old snapshot never changes how new ones are written. A passphrase file in the
/// configuration both encrypts and decrypts; one given by a flag or the environment only decrypts.
public struct KeySettings: Sendable, Equatable {
    /// age public keys (`age1…`).
    public var recipients: [String]
    /// Files of age public keys, one per line (as `age -R` reads them).
    public var recipientsFiles: [String]
    /// A file whose first line is a passphrase that encrypts new snapshots (and decrypts them).
    public var encryptingPassphraseFile: String?
    /// scrypt's work factor for new passphrase-encrypted snapshots (age's default, 18, when nil).
    public var passphraseWorkFactor: Int?
    /// Identity files (`AGE-SECRET-KEY-1…` lines, as age-keygen writes them).
    public var identityFiles: [String]
    /// A file whose first line is a passphrase that only decrypts.
    public var passphraseFile: String?

    public init(recipients: [String] = [], recipientsFiles: [String] = [], encryptingPassphraseFile: String? = nil,
                passphraseWorkFactor: Int? = nil, identityFiles: [String] = [], passphraseFile: String? = nil) {
        self.recipients = recipients; self.recipientsFiles = recipientsFiles
        self.encryptingPassphraseFile = encryptingPassphraseFile; self.passphraseWorkFactor = passphraseWorkFactor
        self.identityFiles = identityFiles; self.passphraseFile = passphraseFile
    }

    /// Reads the files and parses the keys. Every problem is a usage error naming the file (and line),
    /// never a secret; nothing is changed anywhere.
    public func load() throws -> SnapshotKeys {
        var keys = SnapshotKeys()
        do {
            for text in recipients { keys.recipients.append(try AgeRecipient.parse(text)) }
            for file in recipientsFiles {
                keys.recipients += try AgeIdentity.parseRecipientsFile(try Self.readKeyFile(file, what: "recipients file"), path: file)
            }
            if let file = passphraseFile {
                keys.identities.append(.scrypt(passphrase: try Self.passphrase(in: file)))
                keys.identitySources.append(file)
            }
            if let file = encryptingPassphraseFile {
                let passphrase = try Self.passphrase(in: file)
                keys.recipients.append(try AgeRecipient.passphrase(passphrase, workFactor: passphraseWorkFactor ?? AgeRecipient.defaultWorkFactor))
                if file != passphraseFile {
                    keys.identities.append(.scrypt(passphrase: passphrase))
                    keys.identitySources.append(file)
                }
            }
            for file in identityFiles {
                keys.identities += try AgeIdentity.parseFile(try Self.readKeyFile(file, what: "identity file"), path: file)
                keys.identitySources.append(file)
            }
        } catch let error as AgeError {
            throw BackstopError.invalidInput("\(error.message); nothing was changed")
        }
        if keys.recipients.contains(where: \.isPassphrase) && keys.recipients.count > 1 {
            throw BackstopError.invalidInput(
                "a passphrase cannot be combined with public keys: the age format allows a passphrase only as a file's single recipient; set either recipients or passphrase_file; nothing was changed")
        }
        keys.recipients = Self.unique(keys.recipients)
        return keys
    }

    private static func unique(_ recipients: [AgeRecipient]) -> [AgeRecipient] {
        var seen = Set<AgeRecipient>()
        return recipients.filter { seen.insert($0).inserted }
    }

    /// The first line of a passphrase file, without its line ending.
    static func passphrase(in file: String) throws -> [UInt8] {
        let data = try readKeyFile(file, what: "passphrase file")
        var line = data.prefix { $0 != UInt8(ascii: "\n") }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        guard !line.isEmpty else {
            throw BackstopError.invalidInput("the passphrase file \(file) is empty (its first line is the passphrase); nothing was changed")
        }
        return Array(line)
    }

    /// A small regular file (a FIFO or a device would hang or never end), read whole.
    static func readKeyFile(_ path: String, what: String) throws -> Data {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw BackstopError.invalidInput("cannot read the \(what) \(path): \(String(cString: strerror(errno))); nothing was changed")
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw BackstopError.invalidInput("the \(what) \(path) is not a regular file; nothing was changed")
        }
        guard info.st_size <= 1 << 20 else {
            throw BackstopError.invalidInput("the \(what) \(path) is larger than 1 MiB: not a key file; nothing was changed")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BackstopError.invalidInput("cannot read the \(what) \(path); nothing was changed")
        }
        return data
    }
}

/// The encryption keys of a `[databases.NAME]` entry (or the file's top level) or of a `[replicas.NAME]`
/// table, as written: whom to encrypt to (`recipients`, `recipients_file`, or `passphrase_file` with
/// `passphrase_work_factor`) and what decrypts (`identity`). Paths are absolute.
struct EncryptionEntry: Sendable, Equatable {
    var recipients: [String]?
    var recipientsFile: String?
    var passphraseFile: String?
    var passphraseWorkFactor: Int?
    var identity: [String]?

    static let keys: Set<String> = ["recipients", "recipients_file", "passphrase_file", "passphrase_work_factor", "identity"]

    /// True when it names whom to encrypt to.
    var encrypts: Bool { recipients != nil || recipientsFile != nil || passphraseFile != nil }

    /// Takes `item` when it is one of ``keys`` (true), checking its value; false for any other key.
    mutating func parse(_ item: TOMLDocument.Entry, at: String, base: String) throws -> Bool {
        switch item.key {
        case "recipients":
            recipients = try Configuration.strings(item.value, at: at, key: item.key, what: "age public keys (age1…)")
        case "identity":
            identity = try Configuration.strings(item.value, at: at, key: item.key, what: "paths of identity files")
                .map { FileSystem.absolute($0, relativeTo: base) }
        case "passphrase_work_factor":
            guard case .integer(let factor) = item.value, (1...Int64(AgeRecipient.maximumWorkFactor)).contains(factor) else {
                throw BackstopError.invalidInput("\(at): 'passphrase_work_factor' must be a whole number from 1 to \(AgeRecipient.maximumWorkFactor) (age's default is 18)")
            }
            passphraseWorkFactor = Int(factor)
        case "recipients_file", "passphrase_file":
            guard case .string(let value) = item.value, !value.isEmpty else {
                throw BackstopError.invalidInput("\(at): '\(item.key)' must be a non-empty string (a path)")
            }
            let absolute = FileSystem.absolute(value, relativeTo: base)
            if item.key == "recipients_file" { recipientsFile = absolute } else { passphraseFile = absolute }
        default:
            return false
        }
        return true
    }

    /// The settings it gives, before any file is read (identities from here only).
    var settings: KeySettings {
        KeySettings(recipients: recipients ?? [], recipientsFiles: recipientsFile.map { [$0] } ?? [],
                    encryptingPassphraseFile: passphraseFile, passphraseWorkFactor: passphraseWorkFactor,
                    identityFiles: identity ?? [])
    }
}
