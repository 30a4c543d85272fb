import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// A postcondition of an applied migration that the live database no longer satisfies.
public struct PostconditionFailure: Sendable {
    /// `0029_merge_profiles_by_family_slug`, or nil for `PRAGMA foreign_key_check`.
    public var migration: String?
    public var file: String?
    public var statement: SQLStatement
    public var rows: CheckRows
}

extension Migrator {
    /// Runs the `verify` sections of the applied migrations (all, or those from `fromVersion` on)
    /// against the live database, read-only, then `PRAGMA foreign_key_check`. Returns what fails.
    public func checkPostconditions(fromVersion: Int64? = nil) throws -> [PostconditionFailure] {
        let db = try Database(path: database, mode: .readOnly)
        try db.execute("PRAGMA query_only = ON")
        let applied = Set(try MigrationHistory.read(db).map { "\($0.version)\u{1}\($0.name)" })
        var failures: [PostconditionFailure] = []
        for file in directory.files where applied.contains("\(file.version)\u{1}\(file.name)") && file.version >= (fromVersion ?? Int64.min) {
            for check in file.verify {
                let rows = try Checks.run(check, on: db)
                if !rows.isEmpty { failures.append(PostconditionFailure(migration: file.displayName, file: file.path, statement: check, rows: rows)) }
            }
        }
        let foreignKeys = SQLStatement(sql: "PRAGMA foreign_key_check", line: 0)
        let violations = try Checks.run(foreignKeys, on: db)
        if !violations.isEmpty { failures.append(PostconditionFailure(migration: nil, file: nil, statement: foreignKeys, rows: violations)) }
        return failures
    }
}
