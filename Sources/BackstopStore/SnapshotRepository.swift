import BackstopAge
import BackstopCore
import BackstopSQLite
import Foundation

/// A file in a store that is not part of a complete snapshot.
public struct StoreProblem: Equatable, Sendable {
    public var file: String
    public var reason: String
    public init(file: String, reason: String) { self.file = file; self.reason = reason }
}

/// Where snapshots are kept and read from: a local folder (``SnapshotStore``) or a remote replica. Both
/// hold the same files, `<id>.sqlite.gz[.age]` and `<id>.json`, and a snapshot exists once its manifest
/// does. Everything that reads snapshots (restore, verify, diff, recover, query) reads through this.
public protocol SnapshotRepository: AnyObject, Sendable {
    /// Where it is, for messages: a folder, or `s3://bucket/prefix`.
    var location: String { get }
    /// The keys to encrypt new snapshots with and to read encrypted ones.
    var keys: SnapshotKeys { get }
    /// Every complete snapshot, in the order they were committed, and the files that are not complete snapshots.
    func scan() throws -> (snapshots: [Manifest], problems: [StoreProblem])
    /// The recorded moves of databases (see ``SnapshotStore/adopt(from:to:)``).
    func aliases() throws -> [DatabaseAlias]
    /// Random access to the data file as stored. A file that is gone is ``BackstopError/snapshotGone(id:file:)``.
    func openStored(_ manifest: Manifest) throws -> SnapshotBytes
    /// What the store can say of a data file without reading it (a replica: its size and the SHA-256 the
    /// server holds); nil when it has to be read (a local file, which is cheap to read). A file that is gone
    /// is ``BackstopError/snapshotGone(id:file:)``.
    func storedSummary(_ manifest: Manifest) throws -> StoredSummary?
}

/// A data file's size and SHA-256 as a store holds them, without reading the file.
public struct StoredSummary: Sendable, Equatable {
    public var size: Int64
    /// Nil when the store holds none: the file must be read and hashed.
    public var sha256: String?
    public init(size: Int64, sha256: String?) { self.size = size; self.sha256 = sha256 }
}

extension SnapshotRepository {
    /// Complete snapshots in the order they were committed; of one database only when `database` is given
    /// (including those taken of a path it had before a move that was adopted).
    public func snapshots(ofDatabase database: String? = nil) throws -> [Manifest] {
        let all = try scan().snapshots
        guard let database else { return all }
        let aliases = try self.aliases()
        return all.filter { SnapshotStore.identity(of: $0.database, aliases: aliases) == database }
    }

    /// True when the snapshot is of `database`, or of a path it had before an adopted move.
    public func belongs(_ manifest: Manifest, to database: String) throws -> Bool {
        SnapshotStore.identity(of: manifest.database, aliases: try aliases()) == database
    }

    /// When there is no snapshot of `database`: the error, naming the databases it does hold snapshots of,
    /// and suggesting to adopt one that has the same file name (the database probably moved).
    public func noSnapshots(of database: String, selection: String? = nil) throws -> BackstopError {
        let aliases = try self.aliases()
        let others = Dictionary(grouping: try scan().snapshots, by: { SnapshotStore.identity(of: $0.database, aliases: aliases) })
            .filter { $0.key != database }
        var message = "there are no snapshots of \(database)\(selection.map { " \($0)" } ?? "") in \(location)"
        if !others.isEmpty {
            message += "; it holds snapshots of " + others.keys.sorted().map { "\($0) (\(others[$0]!.count))" }.joined(separator: ", ")
        }
        let name = (database as NSString).lastPathComponent
        let moved = others.keys.filter { ($0 as NSString).lastPathComponent == name }
        if selection == nil, moved.count == 1, self is SnapshotStore {
            message += ". If the database moved from \(moved[0]), adopt its snapshots"
            return .snapshotNotFound(message, remedy: .adopt(oldPath: moved[0], newPath: database))
        }
        return .snapshotNotFound(message)
    }

    /// The snapshot with this id (or unique id prefix of at least 8 characters).
    public func snapshot(id: String) throws -> Manifest {
        let all = try scan().snapshots
        if let exact = all.first(where: { $0.id == id }) { return exact }
        let matches = all.filter { $0.id.hasPrefix(id) }
        if matches.count == 1, id.count >= 8 { return matches[0] }
        if matches.count > 1 {
            throw BackstopError.ambiguousID(id, matches: matches.map(\.id))
        }
        throw BackstopError.snapshotNotFound("no snapshot '\(id)' in \(location)")
    }
}

/// The keys a store works with: whom new snapshots are encrypted to (none: they are not encrypted), and
/// the identities that decrypt encrypted ones. Public keys may be listed anywhere; identities and
/// passphrases are secrets, never printed or written to a manifest.
public struct SnapshotKeys: Sendable {
    /// Encrypt new snapshots to these (age public keys, or one passphrase). Empty: no encryption.
    public var recipients: [AgeRecipient]
    /// Decrypt with these.
    public var identities: [AgeIdentity]
    /// Where the identities came from, for messages ("--identity key.txt").
    public var identitySources: [String]

    public init(recipients: [AgeRecipient] = [], identities: [AgeIdentity] = [], identitySources: [String] = []) {
        self.recipients = recipients; self.identities = identities; self.identitySources = identitySources
    }

    public var encrypts: Bool { !recipients.isEmpty }

    /// Throws ``BackstopError/cannotDecrypt(id:recipients:tried:reason:)`` when `manifest` is encrypted and
    /// none of the identities can decrypt it, before anything is read (a passphrase can only be tried).
    public func requireDecryptable(_ manifest: Manifest) throws {
        guard let encryption = manifest.encryption, !canDecrypt(encryption.recipients) else { return }
        throw BackstopError.cannotDecrypt(
            id: manifest.id, recipients: encryption.recipients, tried: identitySources,
            reason: identities.isEmpty ? "no identity was given" : "it is not encrypted to any of their keys")
    }

    /// True when one of the identities decrypts what is encrypted to `recipients` (names as manifests
    /// record them: `age1…` or `passphrase`). A passphrase can only be tried.
    public func canDecrypt(_ recipients: [String]) -> Bool {
        identities.contains { identity in
            switch identity {
            case .x25519: return identity.recipient.map { recipients.contains($0.description) } ?? false
            case .scrypt: return recipients.contains("passphrase")
            }
        }
    }
}
