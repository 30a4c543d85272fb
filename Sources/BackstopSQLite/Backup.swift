import CSQLite
import Foundation

/// One run of SQLite's online backup API from `source` into `destination`.
/// Owns the `sqlite3_backup*` and finishes it on every path.
///
/// Related SQLite documentation: <https://www.sqlite.org/backup.html>
public final class Backup {
    private var handle: OpaquePointer?
    private let destination: Database
    private let source: Database

    public init(from source: Database, to destination: Database) throws {
        guard let handle = sqlite3_backup_init(destination.handle, "main", source.handle, "main") else {
            throw SQLiteError.from(destination.handle, code: sqlite3_errcode(destination.handle))
        }
        self.handle = handle
        self.source = source
        self.destination = destination
    }

    deinit { if let handle { sqlite3_backup_finish(handle) } }

    /// Copies up to `pages` pages (all remaining ones when negative). Returns true when the copy is complete.
    /// Busy or locked databases are retried until `busyDeadline`.
    public func step(pages: Int32, busyDeadline: Date) throws -> Bool {
        guard let handle else { return true }
        while true {
            let code = sqlite3_backup_step(handle, pages)
            switch code {
            case SQLITE_DONE: return true
            case SQLITE_OK: return false
            case SQLITE_BUSY, SQLITE_LOCKED:
                if Date() >= busyDeadline {
                    throw SQLiteError(code: ResultCode(rawValue: code), message: "the database stayed locked by another connection")
                }
                usleep(20_000)
            default:
                // A step reports its error as a return value, not always on a connection: take the
                // destination's message only when it is about this very code.
                throw SQLiteError.from(destination.handle, code: code)
            }
        }
    }

    public var remaining: Int { handle.map { Int(sqlite3_backup_remaining($0)) } ?? 0 }
    public var pageCount: Int { handle.map { Int(sqlite3_backup_pagecount($0)) } ?? 0 }

    /// Releases the backup; errors from the last step are reported here too.
    public func finish() throws {
        guard let handle else { return }
        self.handle = nil
        let code = sqlite3_backup_finish(handle)
        if code != SQLITE_OK { throw SQLiteError.from(destination.handle, code: code) }
    }
}
