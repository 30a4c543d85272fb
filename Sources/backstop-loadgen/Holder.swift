import BackstopKit
import Foundation

/// Connections that tests hold open while Backstop works: what an application does to a database.
enum Holder {
    enum Mode: String { case open, read, write }

    /// Opens `database` and holds it (`open`: an idle connection; `read`: a read transaction; `write`: a write
    /// transaction), prints "ready", and lets go when standard input closes.
    static func hold(_ database: String, mode: Mode) throws {
        let db = try Database(path: database, mode: .readWrite, busyTimeout: 30)
        switch mode {
        case .open: _ = try db.scalar("SELECT count(*) FROM sqlite_schema")
        case .read:
            try db.execute("BEGIN")
            _ = try db.scalar("SELECT count(*) FROM sqlite_schema")
        case .write:
            try db.execute("BEGIN IMMEDIATE")
        }
        print("ready")
        fflush(nil)
        _ = FileHandle.standardInput.readDataToEndOfFile()
        if db.isInTransaction { try db.execute("ROLLBACK") }
    }

    /// Reads `database` every `interval` seconds for `seconds`, each read in its own transaction with a busy
    /// timeout of `timeout` seconds; prints how many reads failed. An application's readers, as a restore
    /// must not turn them away.
    static func readers(_ database: String, seconds: Double, interval: Double, timeout: Double) throws {
        let deadline = Date().addingTimeInterval(seconds)
        var reads = 0, failures = 0
        while Date() < deadline {
            do {
                let db = try Database(path: database, mode: .readOnly, busyTimeout: timeout)
                _ = try db.scalar("SELECT count(*) FROM sqlite_schema")
                reads += 1
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("read failed: \(error)\n".utf8))
            }
            usleep(useconds_t(interval * 1_000_000))
        }
        print("reads \(reads) failures \(failures)")
    }

    /// Leaves a hot journal, as an application killed in the middle of a transaction does: changes enough
    /// rows in a rollback-journal database that SQLite writes pages to the file, then dies with SIGKILL.
    static func crashMidWrite(_ database: String) throws -> Never {
        let db = try Database(path: database, mode: .readWrite)
        try db.execute("PRAGMA journal_mode = DELETE; PRAGMA cache_size = 2; BEGIN IMMEDIATE")
        let tables = try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").compactMap { $0[0].string }
        for table in tables { try db.execute("DELETE FROM \(quoteIdentifier(table))") }
        kill(getpid(), SIGKILL)
        fatalError("unreachable")
    }
}
