import CSQLite
import Foundation

/// An SQLite result code, primary (`SQLITE_BUSY`) or extended (`SQLITE_BUSY_SNAPSHOT`), as a value that
/// can be matched: `catch ResultCode.SQLITE_BUSY` catches every busy error, extended ones included,
/// while `catch ResultCode.SQLITE_CONSTRAINT_UNIQUE` catches only that one.
///
/// Related SQLite documentation: <https://www.sqlite.org/rescode.html>
public struct ResultCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// The primary code of an extended one (itself for a primary code).
    public var primary: ResultCode { ResultCode(rawValue: rawValue & 0xff) }
    public var isPrimary: Bool { rawValue & ~0xff == 0 }
    /// SQLite's own words for the code.
    public var description: String { String(cString: sqlite3_errstr(rawValue)) }

    private static func extended(_ primary: ResultCode, _ n: Int32) -> ResultCode { ResultCode(rawValue: primary.rawValue | (n << 8)) }

    public static let SQLITE_OK = ResultCode(rawValue: 0)
    public static let SQLITE_ERROR = ResultCode(rawValue: 1)
    public static let SQLITE_INTERNAL = ResultCode(rawValue: 2)
    public static let SQLITE_PERM = ResultCode(rawValue: 3)
    public static let SQLITE_ABORT = ResultCode(rawValue: 4)
    public static let SQLITE_BUSY = ResultCode(rawValue: 5)
    public static let SQLITE_LOCKED = ResultCode(rawValue: 6)
    public static let SQLITE_NOMEM = ResultCode(rawValue: 7)
    public static let SQLITE_READONLY = ResultCode(rawValue: 8)
    public static let SQLITE_INTERRUPT = ResultCode(rawValue: 9)
    public static let SQLITE_IOERR = ResultCode(rawValue: 10)
    public static let SQLITE_CORRUPT = ResultCode(rawValue: 11)
    public static let SQLITE_NOTFOUND = ResultCode(rawValue: 12)
    public static let SQLITE_FULL = ResultCode(rawValue: 13)
    public static let SQLITE_CANTOPEN = ResultCode(rawValue: 14)
    public static let SQLITE_PROTOCOL = ResultCode(rawValue: 15)
    public static let SQLITE_SCHEMA = ResultCode(rawValue: 17)
    public static let SQLITE_TOOBIG = ResultCode(rawValue: 18)
    public static let SQLITE_CONSTRAINT = ResultCode(rawValue: 19)
    public static let SQLITE_MISMATCH = ResultCode(rawValue: 20)
    public static let SQLITE_MISUSE = ResultCode(rawValue: 21)
    public static let SQLITE_AUTH = ResultCode(rawValue: 23)
    public static let SQLITE_RANGE = ResultCode(rawValue: 25)
    public static let SQLITE_NOTADB = ResultCode(rawValue: 26)
    public static let SQLITE_ROW = ResultCode(rawValue: 100)
    public static let SQLITE_DONE = ResultCode(rawValue: 101)

    public static let SQLITE_BUSY_RECOVERY = extended(.SQLITE_BUSY, 1)
    public static let SQLITE_BUSY_SNAPSHOT = extended(.SQLITE_BUSY, 2)
    public static let SQLITE_BUSY_TIMEOUT = extended(.SQLITE_BUSY, 3)
    public static let SQLITE_LOCKED_SHAREDCACHE = extended(.SQLITE_LOCKED, 1)
    public static let SQLITE_READONLY_RECOVERY = extended(.SQLITE_READONLY, 1)
    public static let SQLITE_READONLY_CANTLOCK = extended(.SQLITE_READONLY, 2)
    public static let SQLITE_READONLY_ROLLBACK = extended(.SQLITE_READONLY, 3)
    public static let SQLITE_READONLY_DBMOVED = extended(.SQLITE_READONLY, 4)
    public static let SQLITE_READONLY_CANTINIT = extended(.SQLITE_READONLY, 5)
    public static let SQLITE_READONLY_DIRECTORY = extended(.SQLITE_READONLY, 6)
    public static let SQLITE_IOERR_READ = extended(.SQLITE_IOERR, 1)
    public static let SQLITE_IOERR_SHORT_READ = extended(.SQLITE_IOERR, 2)
    public static let SQLITE_IOERR_WRITE = extended(.SQLITE_IOERR, 3)
    public static let SQLITE_IOERR_FSYNC = extended(.SQLITE_IOERR, 4)
    public static let SQLITE_IOERR_TRUNCATE = extended(.SQLITE_IOERR, 6)
    public static let SQLITE_IOERR_NOMEM = extended(.SQLITE_IOERR, 12)
    public static let SQLITE_IOERR_CORRUPTFS = extended(.SQLITE_IOERR, 33)
    public static let SQLITE_CANTOPEN_ISDIR = extended(.SQLITE_CANTOPEN, 2)
    public static let SQLITE_CORRUPT_INDEX = extended(.SQLITE_CORRUPT, 3)
    public static let SQLITE_CONSTRAINT_CHECK = extended(.SQLITE_CONSTRAINT, 1)
    public static let SQLITE_CONSTRAINT_FOREIGNKEY = extended(.SQLITE_CONSTRAINT, 3)
    public static let SQLITE_CONSTRAINT_NOTNULL = extended(.SQLITE_CONSTRAINT, 5)
    public static let SQLITE_CONSTRAINT_PRIMARYKEY = extended(.SQLITE_CONSTRAINT, 6)
    public static let SQLITE_CONSTRAINT_UNIQUE = extended(.SQLITE_CONSTRAINT, 8)

    /// `catch ResultCode.SQLITE_BUSY`: a primary code matches every extended code under it; an extended
    /// code matches only itself.
    public static func ~= (pattern: ResultCode, error: Error) -> Bool {
        guard let error = error as? SQLiteError else { return false }
        return pattern.isPrimary ? error.code.primary == pattern : error.code == pattern
    }

    /// `case .SQLITE_BUSY` on a code, with the same rule.
    public static func ~= (pattern: ResultCode, code: ResultCode) -> Bool {
        pattern.isPrimary ? code.primary == pattern : code == pattern
    }
}

/// An error reported by SQLite: the extended result code, SQLite's message, and the SQL that failed.
///
/// Related SQLite documentation: <https://www.sqlite.org/rescode.html>
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_CONSTRAINT_UNIQUE` ...).
    public let code: ResultCode
    public let message: String
    public let sql: String?

    public init(code: ResultCode, message: String, sql: String? = nil) {
        self.code = code
        self.message = message
        self.sql = sql
    }

    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT` ...).
    public var primaryCode: ResultCode { code.primary }

    public var isBusy: Bool { primaryCode == .SQLITE_BUSY || primaryCode == .SQLITE_LOCKED }
    public var isConstraint: Bool { primaryCode == .SQLITE_CONSTRAINT }
    public var isDiskFull: Bool { primaryCode == .SQLITE_FULL }
    public var isCorrupt: Bool { primaryCode == .SQLITE_CORRUPT || primaryCode == .SQLITE_NOTADB }

    public var description: String {
        var text = message
        let codeName = code.description
        if !message.contains(codeName) {
            text += " (\(codeName), code \(code.rawValue))"
        }
        if let sql, !sql.isEmpty { text += " in: \(sql.trimmingCharacters(in: .whitespacesAndNewlines))" }
        return text
    }
}

extension SQLiteError {
    /// The error a connection reports for `code`: its extended code and message. A code the connection
    /// has not recorded (backup steps report theirs only as return values) keeps SQLite's words for it.
    static func from(_ db: OpaquePointer?, code: Int32, sql: String? = nil) -> SQLiteError {
        let recorded = db.map { sqlite3_extended_errcode($0) } ?? 0
        let extended = (recorded != 0 && recorded & 0xff == code & 0xff) ? recorded : code
        let connectionMessage = db.flatMap { String(validatingCString: sqlite3_errmsg($0)) }
        let message = (recorded & 0xff == code & 0xff ? connectionMessage : nil) ?? String(cString: sqlite3_errstr(code))
        return SQLiteError(code: ResultCode(rawValue: extended), message: message, sql: sql)
    }
}

/// A path that is not an existing SQLite database. Opening never creates one by accident.
public struct DatabaseFileError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Reason: Sendable, Equatable {
        case missing
        case unreadable(errno: Int32)
        case notRegularFile
        case empty
        case cannotOpen
        case notSQLite

        public var text: String {
            switch self {
            case .missing: return "no such file"
            case .unreadable(let code): return String(cString: strerror(code))
            case .notRegularFile: return "not a regular file"
            case .empty: return "the file is empty"
            case .cannotOpen: return "SQLite cannot open it"
            case .notSQLite: return "the file does not start with SQLite's header"
            }
        }
    }

    public var path: String
    public var reason: Reason

    public init(path: String, reason: Reason) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(path) is not an SQLite database: \(reason.text). Nothing was created or changed." }
}

/// Another connection kept the database's write lock (an application's write transaction, a long
/// checkpoint) past the busy timeout. Nothing was changed.
public struct WriteLockBusy: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var error: SQLiteError
    /// How long the connection waited (its busy timeout).
    public var waited: TimeInterval
    public var description: String { "\(path) is locked by another connection writing to it (\(error.message)); nothing was changed" }
}
