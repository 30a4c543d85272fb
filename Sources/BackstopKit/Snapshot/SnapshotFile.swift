import BackstopAge
import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// A snapshot's data file, opened once: never through a symbolic link, never a FIFO or device, and held
/// open for the whole run, so a prune that removes it meanwhile cannot make it look damaged. Serves
/// streaming reads (checksums, `restore --to`) and SQLite reading the snapshot in place.
///
/// Two layers: the file as stored, and the gzip stream inside it, which for an encrypted snapshot is
/// what decrypting it yields (chunks authenticated and decrypted on demand, nothing written anywhere).
final class SnapshotFile {
    let manifest: Manifest
    /// The data file as stored.
    let stored: SnapshotBytes
    /// The gzip stream: `stored` itself, or its decryption.
    let bytes: SnapshotBytes
    private let decryptor: AgeDecryptingReader?
    private let storedHash = SHA256Hasher()
    private var storedDigest: String?

    /// Opens the data file of `manifest` in `repository`, decrypting it with the repository's identities
    /// when it is encrypted. A file that is gone is ``BackstopError/snapshotGone(id:file:)``; an encrypted
    /// one that no identity given decrypts is ``BackstopError/cannotDecrypt(id:recipients:tried:reason:)``.
    init(_ manifest: Manifest, in repository: any SnapshotRepository) throws {
        self.manifest = manifest
        stored = try repository.openStored(manifest)
        guard let encryption = manifest.encryption else {
            decryptor = nil
            bytes = stored
            return
        }
        let keys = repository.keys
        do {
            guard !keys.identities.isEmpty else { throw AgeError(kind: .noMatch, message: "no identity was given") }
            let hasher = storedHash
            let decryptor = try AgeDecryptingReader(size: stored.size, identities: keys.identities,
                                                    onEncrypted: { hasher.update($0) }, read: stored.read)
            self.decryptor = decryptor
            bytes = SnapshotBytes(size: decryptor.size, read: { buffer, offset in
                do { try decryptor.read(buffer, at: offset) } catch let error as AgeError {
                    throw BackstopError.verificationFailed(id: manifest.id, reason: error.description)
                }
            })
        } catch let error as AgeError {
            stored.close()
            switch error.kind {
            case .noMatch, .key:
                throw BackstopError.cannotDecrypt(id: manifest.id, recipients: encryption.recipients,
                                                  tried: keys.identitySources, reason: error.description)
            case .header, .hmac, .payload:
                throw BackstopError.verificationFailed(id: manifest.id, reason: "the encrypted file: \(error.description)")
            }
        } catch {
            stored.close()
            throw error
        }
    }

    deinit { stored.close() }

    /// Bytes of the gzip stream.
    var size: Int64 { bytes.size }
    /// Bytes of the file as stored.
    var storedSize: Int64 { stored.size }
    var isEncrypted: Bool { decryptor != nil }

    /// SHA-256 of the file as stored: of encrypted bytes that reads have gone through in order, plus the
    /// rest read now (nothing is read twice when the reads were sequential).
    func storedSHA256(progress: ProgressHandler? = nil) throws -> String {
        if let storedDigest { return storedDigest }
        let digest: String
        if let decryptor {
            try decryptor.feedRemainingEncrypted()
            digest = storedHash.finalizeHex()
        } else {
            digest = try Verifier.hashStored(stored, progress: progress)
        }
        storedDigest = digest
        return digest
    }


    /// Reads for the codec: up to `buffer.count` bytes at `offset`, 0 at the end.
    var reader: ImageCodec.Reader {
        let bytes = self.bytes
        return { buffer, offset in
            let count = Int(max(0, min(Int64(buffer.count), bytes.size - offset)))
            if count > 0 { try bytes.read(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), offset) }
            return count
        }
    }

    /// Decompresses the whole file, passing the image to `write` (or nowhere), and checks both checksums
    /// and the size against the manifest. Throws ``BackstopError/verificationFailed(id:reason:)``.
    func decompressChecked(write: ImageCodec.Writer?, progress: ProgressHandler?) throws {
        let digest: ImageDigest
        do {
            digest = try ImageCodec.decompress(total: size, limit: manifest.dbBytes, read: reader, write: write, progress: progress)
        } catch let error as GzipError {
            throw BackstopError.verificationFailed(id: manifest.id, reason: error.description)
        }
        var problems: [String] = []
        if digest.compressedSHA256 != manifest.gzipSha256 {
            problems.append(isEncrypted ? "the decrypted gzip stream's SHA-256 does not match the manifest" : "the file's SHA-256 does not match the manifest")
        }
        if isEncrypted, try storedSHA256() != manifest.compressedSha256 {
            problems.append("the encrypted file's SHA-256 does not match the manifest")
        }
        if digest.imageBytes != manifest.dbBytes {
            problems.append("the image has \(digest.imageBytes) bytes, the manifest says \(manifest.dbBytes)")
        }
        if digest.imageSHA256 != manifest.sha256 {
            problems.append("the image's SHA-256 does not match the manifest")
        }
        if !problems.isEmpty {
            throw BackstopError.verificationFailed(id: manifest.id, reason: problems.joined(separator: "; "))
        }
    }

    /// Attaches the snapshot, read in place, to `db` as the read-only schema `schema`.
    func attach(to db: Database, as schema: String) throws {
        let shared = SnapshotBytes(size: bytes.size, read: bytes.read, close: { withExtendedLifetime(self) {} })
        let observer = SnapshotReadObserver()
        do {
            try SnapshotVFS.attach(shared, imageBytes: manifest.dbBytes, to: db, as: schema, observer: observer)
        } catch let error as SQLiteError {
            throw BackstopError.verificationFailed(id: manifest.id, reason: observer.lastError ?? error.message)
        }
    }

    /// A read-only connection to the snapshot, read in place through the snapshot VFS (no copy on disk).
    /// Stand-ins let it read schemas that use an application's own collations and functions.
    func openDatabase(observer: SnapshotReadObserver = SnapshotReadObserver(), cacheBytes: Int = 8 << 20) throws -> Database {
        // The connection reads through this object's descriptor; it stays open while the connection lives.
        let shared = SnapshotBytes(size: bytes.size, read: bytes.read, close: { withExtendedLifetime(self) {} })
        do {
            let db = try SnapshotVFS.open(shared, imageBytes: manifest.dbBytes, cacheBytes: cacheBytes, observer: observer)
            db.enableStandIns()
            return db
        } catch let error as SQLiteError {
            throw BackstopError.verificationFailed(id: manifest.id, reason: observer.lastError ?? error.message)
        }
    }
}
