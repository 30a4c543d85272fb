import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// A snapshot's data file, opened once: never through a symbolic link, never a FIFO or device, and held
/// open for the whole run, so a prune that removes it meanwhile cannot make it look damaged. Serves
/// streaming reads (checksums, `restore --to`) and SQLite reading the snapshot in place.
final class SnapshotFile {
    let manifest: Manifest
    let bytes: SnapshotBytes

    /// Opens the data file of `manifest`. A file that is gone is ``BackstopError/snapshotGone(id:file:)``.
    init(_ manifest: Manifest, in store: SnapshotStore) throws {
        self.manifest = manifest
        let path = store.dataPath(manifest)
        do {
            bytes = try SnapshotVFS.fileBytes(path)
        } catch let error as SnapshotFileError where error.isMissing {
            throw BackstopError.snapshotGone(id: manifest.id, file: path)
        } catch let error as SnapshotFileError where error.isNotRegularFile {
            throw BackstopError.unsafeFile(path: path, reason: "a snapshot's data file must be a regular file, not a symbolic link, FIFO or device")
        } catch let error as SnapshotFileError {
            throw BackstopError.io(operation: "read", path: path, errno: error.errno)
        }
    }

    deinit { bytes.close() }

    var size: Int64 { bytes.size }

    /// Reads for the codec: up to `buffer.count` bytes at `offset`, 0 at the end.
    var reader: ImageCodec.Reader {
        let bytes = self.bytes
        return { buffer, offset in
            let count = Int(max(0, min(Int64(buffer.count), bytes.size - offset)))
            if count > 0 { try bytes.read(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), offset) }
            return count
        }
    }

    /// SHA-256 and size of the file as stored.
    func hashStored(progress: ProgressHandler?) throws -> String {
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        let read = reader
        while true {
            let n = try buffer.withUnsafeMutableBytes { try read($0, offset) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            offset += Int64(n)
            progress?(offset, size)
        }
        return hasher.finalizeHex()
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
        if digest.compressedSHA256 != manifest.compressedSha256 {
            problems.append("the file's SHA-256 does not match the manifest")
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
