import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// A snapshot decompressed into a private temporary database in the store, checked against its
/// checksums. The store's file is only read. The copy is removed when this object goes away.
public final class SnapshotCopy {
    public let manifest: Manifest
    public let path: String

    public init(_ manifest: Manifest, store: SnapshotStore, progress: PhaseProgress? = nil) throws {
        self.manifest = manifest
        self.path = store.temporaryPath(for: "copy-\(manifest.id).db")
        do {
            try Verifier.checkedImage(manifest, in: store, to: path, progress: progress)
            // A private copy: take it out of WAL mode so it can be opened read-only without side files.
            let db = try Database(path: path, mode: .readWrite)
            try db.execute("PRAGMA journal_mode = DELETE")
        } catch {
            Snapshotter.removeDatabaseFiles(path)
            throw error
        }
    }

    deinit { Snapshotter.removeDatabaseFiles(path) }

    /// A read-only connection to the copy that cannot write even through SQL (`query_only`).
    public func openReadOnly() throws -> Database {
        let db = try Database(path: path, mode: .readOnly)
        try db.execute("PRAGMA query_only = ON")
        return db
    }
}
