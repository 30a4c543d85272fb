import CSQLite
import Foundation

/// A connection to one SQLite database. Owns its `sqlite3*` and closes it in `deinit`.
///
/// Opening never creates a database: a missing file, an empty file or a file that is not
/// SQLite is reported as a ``DatabaseFileError``.
///
/// Related SQLite documentation: <https://www.sqlite.org/c3ref/open.html>
public final class Database {
    public enum Mode: Sendable { case readOnly, readWrite, create }

    let handle: OpaquePointer
    public let path: String
    /// Stand-ins for collations and functions an application defines (see ``enableStandIns()``).
    var standIns: StandIns?

    /// Opens `path`. With `.readOnly` or `.readWrite` the file must exist and be an SQLite database.
    /// With a `vfs`, `path` is that VFS's name for the file and is not checked on disk.
    public init(path: String, mode: Mode, vfs: String? = nil, busyTimeout: TimeInterval = 5) throws {
        if mode != .create && vfs == nil { try Database.checkIsSQLiteFile(path) }
        var flags: Int32 = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_URI
        switch mode {
        case .readOnly: flags |= SQLITE_OPEN_READONLY
        case .readWrite: flags |= SQLITE_OPEN_READWRITE
        case .create: flags |= SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        var db: OpaquePointer?
        // Pass the path as a file: URI only when needed; plain paths are safest as-is.
        let code = sqlite3_open_v2(path, &db, flags & ~SQLITE_OPEN_URI, vfs)
        guard code == SQLITE_OK, let db else {
            let error = SQLiteError.from(db, code: code)
            sqlite3_close_v2(db)
            throw error
        }
        self.handle = db
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        setBusyTimeout(busyTimeout)
    }

    deinit { sqlite3_close_v2(handle) }

    /// Loads an SQLite extension (a shared library) into this connection, for SQL functions an
    /// application registers itself. Loading is enabled only for the call.
    ///
    /// Related SQLite documentation: <https://www.sqlite.org/loadext.html>
    public func loadExtension(_ path: String) throws {
        backstop_sqlite_db_config_load_extension(handle, 1)
        defer { backstop_sqlite_db_config_load_extension(handle, 0) }
        var message: UnsafeMutablePointer<CChar>?
        let code = sqlite3_load_extension(handle, path, nil, &message)
        guard code == SQLITE_OK else {
            let text = message.map { String(cString: $0) } ?? "cannot load it"
            sqlite3_free(message)
            throw SQLiteError(code: ResultCode(rawValue: code), message: "loading the extension \(path): \(text)")
        }
    }

    /// How long a statement waits for another connection's lock before failing with SQLITE_BUSY.
    public func setBusyTimeout(_ seconds: TimeInterval) {
        busyTimeout = min(max(0, seconds), 86_400)
        sqlite3_busy_timeout(handle, Int32(busyTimeout * 1000))
    }

    /// The busy timeout in force, in seconds.
    public private(set) var busyTimeout: TimeInterval = 0

    /// Checks that `path` is an existing, non-empty SQLite database, without creating anything.
    ///
    /// The file is never opened with a descriptor of our own: closing any descriptor of a file drops
    /// every POSIX lock this process holds on it, including SQLite's. SQLite's own VFS reads the header.
    public static func checkIsSQLiteFile(_ path: String) throws {
        var info = stat()
        guard stat(path, &info) == 0 else {
            throw DatabaseFileError(path: path, reason: errno == ENOENT ? .missing : .unreadable(errno: errno))
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw DatabaseFileError(path: path, reason: .notRegularFile)
        }
        guard info.st_size > 0 else {
            throw DatabaseFileError(path: path, reason: .empty)
        }
        var db: OpaquePointer?
        defer { sqlite3_close_v2(db) }
        guard sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK, let db else {
            throw DatabaseFileError(path: path, reason: .cannotOpen)
        }
        sqlite3_busy_timeout(db, 5000)
        var header = [UInt8](repeating: 0, count: 16)
        let code = header.withUnsafeMutableBytes { Database.readThroughSQLite(db, into: $0, at: 0) }
        guard code == SQLITE_OK, header == Array("SQLite format 3\0".utf8) else {
            throw DatabaseFileError(path: path, reason: .notSQLite)
        }
    }

    /// Reads bytes of the main database file through SQLite's own file handle (never a descriptor of
    /// our own, which would drop SQLite's locks when closed). Bytes past the end read as zeros.
    static func readThroughSQLite(_ db: OpaquePointer, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) -> Int32 {
        var file: UnsafeMutablePointer<sqlite3_file>?
        guard sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &file) == SQLITE_OK, let file,
              let methods = file.pointee.pMethods, let xRead = methods.pointee.xRead else { return SQLITE_ERROR }
        let code = xRead(file, buffer.baseAddress, Int32(buffer.count), sqlite3_int64(offset))
        return code == SQLITE_IOERR | (2 << 8) ? SQLITE_OK : code   // SQLITE_IOERR_SHORT_READ: zero-filled
    }

    /// Reads bytes of this connection's main database file as they are on disk (see ``readThroughSQLite``).
    public func readFile(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws {
        let code = Database.readThroughSQLite(handle, into: buffer, at: offset)
        guard code == SQLITE_OK else { throw SQLiteError.from(handle, code: code) }
    }

    // MARK: - Running SQL

    public func prepare(_ sql: String) throws -> Statement { try Statement(database: self, sql: sql) }

    /// Prepares exactly one statement: anything but whitespace and comments after it is an error.
    public func prepareSingle(_ sql: String) throws -> Statement { try Statement(database: self, sql: sql, single: true) }

    /// Attaches another database file under `name` (the path is a bound value).
    public func attach(_ path: String, as name: String) throws {
        try prepare("ATTACH DATABASE ?1 AS \(quoteIdentifier(name))").all([.text(path)])
    }

    /// Runs one or more statements without results.
    public func execute(_ sql: String) throws {
        var errorMessage: UnsafeMutablePointer<CChar>?
        let code = sqlite3_exec(handle, sql, nil, nil, &errorMessage)
        if code != SQLITE_OK {
            let message = errorMessage.map { String(cString: $0) } ?? String(cString: sqlite3_errstr(code))
            sqlite3_free(errorMessage)
            throw SQLiteError(code: ResultCode(rawValue: sqlite3_extended_errcode(handle)), message: message, sql: sql)
        }
    }

    /// Runs one statement with bound values, returning every row.
    public func rows(_ sql: String, _ values: [SQLiteValue] = []) throws -> [[SQLiteValue]] {
        try prepare(sql).all(values)
    }

    /// The first column of the first row, or nil.
    public func scalar(_ sql: String, _ values: [SQLiteValue] = []) throws -> SQLiteValue? {
        let statement = try prepare(sql)
        try statement.bind(values)
        return try statement.step() ? statement.value(at: 0) : nil
    }

    public func int(_ sql: String, _ values: [SQLiteValue] = []) throws -> Int64 {
        try scalar(sql, values)?.int64 ?? 0
    }

    /// Rows changed by the most recent statement.
    public var changes: Int64 { Int64(sqlite3_changes64(handle)) }
    public var totalChanges: Int64 { Int64(sqlite3_total_changes64(handle)) }
    public var isInTransaction: Bool { sqlite3_get_autocommit(handle) == 0 }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT`, rolling back if it throws (and, with `rollback`,
    /// in any case: a rehearsal that does the work and keeps nothing).
    public func inTransaction<T>(rollback: Bool = false, _ body: () throws -> T) throws -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute(rollback ? "ROLLBACK" : "COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE ... COMMIT` (see ``inTransaction(rollback:_:)``), reporting a
    /// write lock that another connection kept past the busy timeout as ``WriteLockBusy``.
    public func inWriteTransaction<T>(rollback: Bool = false, _ body: () throws -> T) throws -> T {
        do {
            try execute("BEGIN IMMEDIATE")
        } catch let error as SQLiteError where error.isBusy {
            throw WriteLockBusy(path: path, error: error, waited: busyTimeout)
        }
        do {
            let result = try body()
            try execute(rollback ? "ROLLBACK" : "COMMIT")
            return result
        } catch {
            if isInTransaction { try? execute("ROLLBACK") }
            throw error
        }
    }

    /// Runs `body` inside one read transaction: everything it reads comes from the same committed state.
    public func inReadTransaction<T>(_ body: () throws -> T) throws -> T {
        try execute("BEGIN DEFERRED")
        defer { if isInTransaction { try? execute("ROLLBACK") } }
        _ = try scalar("SELECT count(*) FROM sqlite_schema")   // starts the read transaction now
        return try body()
    }

    /// Opens a live database to change it: read-write, with `synchronous = EXTRA`, so that a commit
    /// Backstop reports is durable across a power cut (in rollback-journal mode SQLite then also syncs the
    /// folder after deleting the journal; without that, the deletion can be lost and the next open rolls
    /// the committed change back).
    public static func openForWriting(_ path: String, busyTimeout: TimeInterval = 5) throws -> Database {
        let db = try Database(path: path, mode: .readWrite, busyTimeout: busyTimeout)
        try db.execute("PRAGMA synchronous = EXTRA")
        return db
    }

    /// Runs `body` with foreign-key enforcement off, restoring it afterwards. The pragma is a no-op
    /// inside a transaction, so call this outside one (and open the transaction in `body`).
    ///
    /// Related SQLite documentation: <https://www.sqlite.org/pragma.html#pragma_foreign_keys>
    public func withoutForeignKeyEnforcement<T>(_ body: () throws -> T) throws -> T {
        let enforcing = try int("PRAGMA foreign_keys") == 1
        try execute("PRAGMA foreign_keys = OFF")
        defer { if enforcing { try? execute("PRAGMA foreign_keys = ON") } }
        return try body()
    }

    // MARK: - Facts about the database

    /// The main database's page size. Throws when it cannot be read (rather than assuming a default).
    public var pageSize: Int { get throws { Int(try int("PRAGMA page_size")) } }
    public var pageCount: Int { get throws { Int(try int("PRAGMA page_count")) } }
    /// The main database's journal mode. Throws when it cannot be read (rather than guessing one).
    public var journalMode: JournalMode {
        get throws {
            guard let text = try scalar("PRAGMA journal_mode")?.string else {
                throw SQLiteError(code: .SQLITE_ERROR, message: "PRAGMA journal_mode returned nothing")
            }
            return JournalMode(rawValue: text)
        }
    }

    /// `PRAGMA integrity_check` (or `quick_check`): an empty array when the database is sound.
    public func integrityProblems(quick: Bool = false, limit: Int = 20) throws -> [String] {
        let rows = try self.rows("PRAGMA \(quick ? "quick_check" : "integrity_check")(\(limit))")
        let messages = rows.compactMap { $0.first?.string }
        return messages == ["ok"] ? [] : messages
    }

    /// True when a table of that name exists in the main schema.
    public func tableExists(_ name: String) throws -> Bool {
        try scalar("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = ?1", [.text(name)]) != nil
    }

    public static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}

/// Quotes an SQL identifier: `my "table"` becomes `"my ""table"""`.
public func quoteIdentifier(_ name: String) -> String {
    "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
}
