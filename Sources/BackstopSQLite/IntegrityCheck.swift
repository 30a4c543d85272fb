import CSQLite
import Foundation

/// What `PRAGMA quick_check` or `PRAGMA integrity_check` found, told apart from what could not be checked.
public struct IntegrityReport: Sendable, Equatable {
    public var quick: Bool
    /// Problems SQLite reported (empty: none).
    public var problems: [String]
    /// What could not be checked because the schema uses collations or functions the application defines
    /// in its own code ("index idx_users_name: collation nocase_utf8").
    public var notChecked: [String]
    /// Why the check could not run at all, when it could not (that is not corruption).
    public var couldNotRun: String?

    /// True: sound as far as checked; false: problems found; nil: the check could not run.
    public var ok: Bool? { couldNotRun != nil ? nil : problems.isEmpty }
    public var method: String { quick ? "quick_check" : "integrity_check" }
}

/// Runs SQLite's own checks on a database, telling corruption apart from a check that could not run.
///
/// A schema may use collations and functions that an application registers in its own code; SQLite
/// cannot check what depends on them without them. Stand-ins (``Database/enableStandIns()``) let the
/// check run; what they touch (indexes with such a collation or expression, tables whose CHECK
/// constraints call such a function) is reported as not checked, and what SQLite says about those is
/// set aside rather than reported as corruption.
///
/// Related SQLite documentation: <https://www.sqlite.org/pragma.html#pragma_integrity_check>
public enum IntegrityCheck {
    public static func run(on db: Database, quick: Bool, limit: Int = 100) -> IntegrityReport {
        var report = IntegrityReport(quick: quick, problems: [], notChecked: [], couldNotRun: nil)
        let messages: [String]
        do {
            messages = try db.retryingWithStandInFunctions {
                try db.rows("PRAGMA \(quick ? "quick_check" : "integrity_check")(\(limit))").compactMap { $0.first?.string }
            }
        } catch let error as SQLiteError {
            if error.isCorrupt || error.code == .SQLITE_IOERR_CORRUPTFS {
                report.problems = [error.message]
            } else {
                report.couldNotRun = error.message
            }
            return report
        } catch {
            report.couldNotRun = "\(error)"
            return report
        }
        let found = messages == ["ok"] ? [] : messages
        let (collations, functions) = db.standInNames
        guard !collations.isEmpty || !functions.isEmpty else {
            report.problems = found
            return report
        }
        let affected = (try? affectedObjects(db, collations: collations, functions: functions)) ?? (indexes: [], tables: [])
        report.notChecked = affected.indexes.map { "index \($0.name): \($0.why)" } + affected.tables.map { "CHECK constraints of \($0.name): \($0.why)" }
        report.problems = found.filter { message in
            !affected.indexes.contains { message.contains("index \($0.name)") }
                && !affected.tables.contains { message.hasPrefix("CHECK constraint failed in \($0.name)") }
        }
        return report
    }

    /// Indexes and tables whose checks depend on stand-ins, with the reason in words.
    static func affectedObjects(_ db: Database, collations: [String], functions: [String])
        throws -> (indexes: [(name: String, why: String)], tables: [(name: String, why: String)]) {
        func mentions(_ sql: String, _ name: String) -> Bool {
            let lowered = sql.lowercased(), target = name.lowercased()
            var search = lowered.startIndex..<lowered.endIndex
            while let range = lowered.range(of: target, range: search) {
                let before = range.lowerBound == lowered.startIndex ? " " : lowered[lowered.index(before: range.lowerBound)]
                let after = range.upperBound == lowered.endIndex ? " " : lowered[range.upperBound]
                let isWord = { (c: Character) in c.isLetter || c.isNumber || c == "_" }
                if !isWord(before) && !isWord(after) { return true }
                search = range.upperBound..<lowered.endIndex
            }
            return false
        }
        var indexes: [(String, String)] = []
        for row in try db.rows("SELECT name, tbl_name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'index' ORDER BY name") {
            guard let name = row[0].string, let sql = row[2].string else { continue }
            var reasons: [String] = []
            let quoted = "'" + name.replacingOccurrences(of: "'", with: "''") + "'"
            for info in (try? db.rows("PRAGMA index_xinfo(\(quoted))")) ?? [] {
                if let collation = info[4].string, collations.contains(where: { $0.caseInsensitiveCompare(collation) == .orderedSame }),
                   !reasons.contains("collation \(collation)") {
                    reasons.append("collation \(collation)")
                }
            }
            for function in functions where mentions(sql, function) { reasons.append("function \(function)") }
            if !reasons.isEmpty { indexes.append((name, reasons.joined(separator: ", ") + " is defined by the application, not here")) }
        }
        var tables: [(String, String)] = []
        for row in try db.rows("SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'table' ORDER BY name") {
            guard let name = row[0].string, let sql = row[1].string else { continue }
            let used = functions.filter { mentions(sql, $0) }
            if !used.isEmpty { tables.append((name, "function \(used.joined(separator: ", ")) is defined by the application, not here")) }
        }
        return (indexes, tables)
    }
}

extension Database {
    /// Opens a live database to read it, read-only where possible. When a crashed process left an
    /// unfinished transaction (a hot journal, or a WAL that needs recovery), SQLite must write to settle
    /// it before anything can be read: the database is then opened read-write with `query_only`, so
    /// SQLite settles it as any connection would, and Backstop itself writes nothing.
    public static func openForReading(_ path: String, busyTimeout: TimeInterval = 5) throws -> Database {
        let db = try Database(path: path, mode: .readOnly, busyTimeout: busyTimeout)
        do {
            _ = try db.scalar("SELECT count(*) FROM sqlite_schema")
            return db
        } catch let error as SQLiteError where error.primaryCode == .SQLITE_READONLY {
            let writable: Database
            do {
                writable = try Database(path: path, mode: .readWrite, busyTimeout: busyTimeout)
                try writable.execute("PRAGMA query_only = ON")
                _ = try writable.scalar("SELECT count(*) FROM sqlite_schema")
            } catch let inner as SQLiteError {
                throw SQLiteError(code: inner.code, message:
                    "a process that crashed left an unfinished transaction in \(path) (a hot journal), which SQLite must roll back before anyone can read the database, and this user cannot write it (\(inner.message))")
            }
            return writable
        }
    }
}
