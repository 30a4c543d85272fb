import BackstopAge
import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation
import Synchronization

/// A snapshot encrypted to a replica's own recipients on its way there: the gzip stream (the local file,
/// or what decrypting it with the store's identity yields) encrypted with age as the upload reads it, in
/// parts, in parallel. Nothing is written locally.
///
/// The encrypted file is read twice: once to hash it (its SHA-256 goes into the replica's manifest and
/// into the upload's metadata, which must be set before the first part), checking on the way that the
/// gzip stream is the one the local manifest promises; then to upload it, hashed again and compared. Its
/// file key is made once and lives only in this object, so both reads see the same bytes, and an
/// interrupted upload cannot be resumed by another run (it starts over).
final class EncryptedCopy {
    /// The snapshot as the replica holds it: `<id>.sqlite.gz.age`, its size and SHA-256, and the replica's
    /// recipients; the image and the gzip stream inside are the local snapshot's.
    let manifest: Manifest
    let bytes: SnapshotBytes
    private let source: SnapshotFile

    /// True when `manifest` must be encrypted for a replica that encrypts to `recipients`: it does, and the
    /// local file is not already encrypted to exactly those public keys (a passphrase cannot be compared
    /// without its scrypt, so such a replica always gets its own encryption).
    static func isNeeded(_ manifest: Manifest, recipients: [AgeRecipient]) -> Bool {
        guard !recipients.isEmpty else { return false }
        guard let encryption = manifest.encryption, !recipients.contains(where: \.isPassphrase) else { return true }
        return Set(encryption.recipients) != Set(recipients.map(\.description))
    }

    /// Opens `local` in `store` (decrypting it with the store's identities when it is encrypted), and
    /// hashes its encryption to `recipients`. Throws ``BackstopError/cannotDecrypt(id:recipients:tried:reason:)``
    /// when no identity decrypts the local file, ``BackstopError/verificationFailed(id:reason:)`` when its
    /// gzip stream is not the one its manifest promises.
    init(_ local: Manifest, store: SnapshotStore, recipients: [AgeRecipient], progress: ProgressHandler? = nil) throws {
        source = try SnapshotFile(local, in: store)
        let gzip = source.bytes
        // The gzip stream's SHA-256, taken as the first pass reads it in order.
        let plainHash = Mutex<(hasher: SHA256Hasher, through: Int64)>((SHA256Hasher(), 0))
        let encryptor: AgeEncryptingReader
        do {
            encryptor = try AgeEncryptingReader(recipients: recipients, plaintextSize: gzip.size) { buffer, offset in
                try gzip.read(buffer, offset)
                plainHash.withLock { state in
                    let end = offset + Int64(buffer.count)
                    guard offset <= state.through, end > state.through else { return }
                    state.hasher.update(UnsafeRawBufferPointer(rebasing: buffer[Int(state.through - offset)...]))
                    state.through = end
                }
            }
        } catch let error as AgeError {
            throw BackstopError.invalidInput("cannot encrypt snapshot \(local.id) for the replica: \(error.message)")
        }
        bytes = SnapshotBytes(size: encryptor.size, read: { buffer, offset in try encryptor.read(buffer, at: offset) })
        let encryptedSHA256 = try Verifier.hashStored(bytes, bufferBytes: 4 << 20, progress: progress)
        let gzipSHA256 = plainHash.withLock { $0.through == gzip.size ? $0.hasher.finalizeHex() : "" }
        guard gzipSHA256 == local.gzipSha256 else {
            throw BackstopError.verificationFailed(
                id: local.id, reason: (local.encryption == nil ? "its data file's SHA-256" : "its decrypted gzip stream's SHA-256")
                    + " does not match the manifest; it was not pushed")
        }
        var copy = local
        copy.file = Manifest.fileName(for: local.id, encrypted: true)
        copy.compressedBytes = encryptor.size
        copy.compressedSha256 = encryptedSHA256
        copy.encryption = Manifest.Encryption(recipients: recipients.map(\.description), gzipBytes: local.gzipBytes, gzipSha256: local.gzipSha256)
        copy.format = Manifest.encryptedFormat
        manifest = copy
    }
}
