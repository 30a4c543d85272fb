import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// The first rows a check query returned, for messages.
public struct CheckRows: Sendable {
    public var columns: [String]
    public var rows: [[SQLiteValue]]
    /// True when there were more rows than `rows` holds.
    public var more: Bool

    public var isEmpty: Bool { rows.isEmpty }

    public init(columns: [String], rows: [[SQLiteValue]], more: Bool) {
        self.columns = columns; self.rows = rows; self.more = more
    }

    /// The first foreign-key violations, as `PRAGMA foreign_key_check` shows them.
    init(violations: Set<ForeignKeyViolation>) {
        let sorted = violations.sorted { ($0.table, $0.rowid) < ($1.table, $1.rowid) }
        columns = ["table", "rowid", "parent", "fkid"]
        rows = sorted.prefix(Checks.rowLimit).map { [.text($0.table), .integer($0.rowid), .text($0.parent), .integer($0.key)] }
        more = sorted.count > Checks.rowLimit
    }

    /// `id=3, name='a'` lines, indented.
    public func describe(indent: String = "    ") -> String {
        var lines = rows.map { row in indent + zip(columns, row).map { "\($0)=\($1.sqlLiteralForDisplay)" }.joined(separator: ", ") }
        if more { lines.append(indent + "...") }
        return lines.joined(separator: "\n")
    }
}

/// Runs check queries: each must return no rows.
public enum Checks {
    public static let rowLimit = 5

    /// Runs one query, returning its first rows. Statements that would write are refused.
    public static func run(_ statement: SQLStatement, on db: Database) throws -> CheckRows {
        let prepared = try db.prepare(statement.sql)
        guard prepared.isReadOnly else {
            throw BackstopError.invalidInput("line \(statement.line): a check must be a query that reads, not: \(statement.sql)")
        }
        var result = CheckRows(columns: prepared.columnNames, rows: [], more: false)
        while try prepared.step() {
            if result.rows.count == rowLimit { result.more = true; break }
            result.rows.append(prepared.row())
        }
        return result
    }
}

/// A guard query that returned rows.
public struct GuardViolation: Sendable {
    public var statement: SQLStatement
    public var rows: CheckRows
}

/// `guard.sql`: queries that must each return no rows before any run or restore starts
/// (for example "sessions still running").
public enum Guard {
    public static func evaluate(_ queries: [SQLStatement], on db: Database) throws -> [GuardViolation] {
        try queries.compactMap { query in
            let rows = try Checks.run(query, on: db)
            return rows.isEmpty ? nil : GuardViolation(statement: query, rows: rows)
        }
    }

    /// Throws ``BackstopError/checkFailed(_:hint:)`` listing the rows when any guard query returns rows.
    public static func enforce(_ queries: [SQLStatement], on db: Database, action: String,
                               file: String = MigrationDirectory.guardFileName) throws {
        let violations = try evaluate(queries, on: db)
        guard !violations.isEmpty else { return }
        var message = "the guard (\(file)) refuses the \(action); nothing was changed:"
        for violation in violations {
            message += "\n  line \(violation.statement.line): \(oneLine(violation.statement.sql))\n" + violation.rows.describe()
        }
        throw BackstopError.checkFailed(message, remedy: .waitForGuard)
    }
}

/// A statement on one line (leading comments dropped, long ones cut), for messages.
public func oneLine(_ sql: String) -> String {
    let text = SQLScript.stripLeadingComments(sql).split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
    return text.count > 160 ? String(text.prefix(157)) + "..." : text
}

/// A row whose foreign key points at nothing, as `PRAGMA foreign_key_check` reports it.
public struct ForeignKeyViolation: Hashable, Sendable {
    public var table: String
    public var rowid: Int64
    public var parent: String
    /// The index of the foreign key in the table's list.
    public var key: Int64
}

extension Checks {
    /// `PRAGMA foreign_key_check` of the given tables (every table when nil). Comparing the result before
    /// and after a change counts only the violations the change caused, never an old orphan elsewhere.
    public static func foreignKeyViolations(_ db: Database, tables: Set<String>? = nil) throws -> Set<ForeignKeyViolation> {
        var found: Set<ForeignKeyViolation> = []
        func add(_ rows: [[SQLiteValue]], default table: String) {
            for row in rows {
                found.insert(ForeignKeyViolation(table: row[0].string ?? table, rowid: row[1].int64 ?? -1, parent: row[2].string ?? "",
                                                 key: row[3].int64 ?? 0))
            }
        }
        guard let tables else {
            add(try db.rows("PRAGMA main.foreign_key_check"), default: "")
            return found
        }
        for table in tables.sorted() {
            let quoted = "'" + table.replacingOccurrences(of: "'", with: "''") + "'"
            add(try db.rows("PRAGMA main.foreign_key_check(\(quoted))"), default: table)
        }
        return found
    }
}
