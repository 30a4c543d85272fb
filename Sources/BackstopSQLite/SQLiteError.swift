import CSQLite
import Foundation

/// An error reported by SQLite: the extended result code, SQLite's message, and the SQL that failed.
///
/// Related SQLite documentation: <https://www.sqlite.org/rescode.html>
public struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The extended result code (`SQLITE_BUSY_SNAPSHOT`, `SQLITE_CONSTRAINT_UNIQUE` ...).
    public let extendedCode: Int32
    public let message: String
    public let sql: String?

    public init(extendedCode: Int32, message: String, sql: String? = nil) {
        self.extendedCode = extendedCode
        self.message = message
        self.sql = sql
    }

    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CONSTRAINT` ...).
    public var code: Int32 { extendedCode & 0xff }

    public var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
    public var isConstraint: Bool { code == SQLITE_CONSTRAINT }
    public var isDiskFull: Bool { code == SQLITE_FULL }
    public var isCorrupt: Bool { code == SQLITE_CORRUPT || code == SQLITE_NOTADB }

    public var description: String {
        var text = message
        if let codeName = String(validatingCString: sqlite3_errstr(extendedCode)), !message.contains(codeName) {
            text += " (\(codeName), code \(extendedCode))"
        }
        if let sql, !sql.isEmpty { text += " in: \(sql.trimmingCharacters(in: .whitespacesAndNewlines))" }
        return text
    }
}

extension SQLiteError {
    static func from(_ db: OpaquePointer?, code: Int32, sql: String? = nil) -> SQLiteError {
        let extended = db.map { sqlite3_extended_errcode($0) } ?? code
        let message = db.flatMap { String(validatingCString: sqlite3_errmsg($0)) }
            ?? String(cString: sqlite3_errstr(code))
        return SQLiteError(extendedCode: extended == 0 ? code : extended, message: message, sql: sql)
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
