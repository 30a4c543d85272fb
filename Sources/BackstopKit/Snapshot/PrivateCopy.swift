import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// A private, writable copy of a live database in a folder (a rehearsal's), made through the backup API
/// in one read transaction, and removed when this object goes away (or when a signal ends the run).
final class PrivateCopy {
    private let file: TemporaryFile
    let path: String
    /// The copy, open read-write in rollback-journal mode.
    private(set) var database: Database!

    init(of source: String, in directory: String, lockWait: TimeInterval, progress: PhaseProgress?) throws {
        file = try TemporaryFile(in: directory, for: "copy.db")
        path = file.path
        do {
            let sourceDB = try Database.openForReading(source, busyTimeout: max(lockWait, 5))
            let copy = try Database(path: path, mode: .create)
            try copy.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
            let backup = try Backup(from: sourceDB, to: copy)
            let deadline = Date().addingTimeInterval(max(lockWait, 5))
            while try !backup.step(pages: ImageStream.pagesPerStep, busyDeadline: deadline) {
                progress?(.copying, Int64(backup.pageCount - backup.remaining), Int64(backup.pageCount))
            }
            try backup.finish()
            try copy.execute("PRAGMA journal_mode = DELETE")
            database = copy
        } catch let error as SQLiteError where error.isDiskFull {
            remove()
            throw BackstopError.diskFull(path: directory, doing: "writing a private copy", outcome: "nothing was changed", store: false)
        } catch {
            remove()
            throw error
        }
    }

    /// A copy of `image` rebuilt by `VACUUM INTO` at another page size (same rows, same schema).
    init(vacuuming image: Database, pageSize: Int, in directory: String) throws {
        file = try TemporaryFile(in: directory, for: "copy.db")
        path = file.path
        do {
            unlink(path)   // VACUUM INTO wants to create the file itself; the name stays ours
            try image.execute("PRAGMA query_only = OFF; PRAGMA page_size = \(pageSize)")
            // The output goes through the default VFS ("unix"), not the snapshot VFS the image is read with.
            let uri = "file:" + (path.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? path) + "?vfs=unix"
            try image.prepare("VACUUM INTO ?1").all([.text(uri)])
            try image.execute("PRAGMA query_only = ON")
            let copy = try Database(path: path, mode: .readOnly)
            guard try copy.int("PRAGMA page_size") == Int64(pageSize) else {
                throw BackstopError.refused("cannot rebuild the snapshot at the page size \(pageSize) the live database uses; nothing was changed",
                                            remedy: .restoreToNewFileAnyPageSize)
            }
            database = copy
        } catch let error as SQLiteError where error.isDiskFull {
            remove()
            throw BackstopError.diskFull(path: directory, doing: "writing a private copy", outcome: "nothing was changed", store: false)
        } catch {
            remove()
            throw error
        }
    }

    deinit { remove() }

    private func remove() {
        database = nil   // SQLite closes its descriptors before ours goes (closing ours would drop SQLite's locks)
        for suffix in ["-journal", "-wal", "-shm"] { unlink(path + suffix) }
        file.discard()
    }
}
