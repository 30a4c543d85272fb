import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// Why a migration run failed. The run was one transaction and was rolled back.
public struct MigrationFailure: Error, CustomStringConvertible, Sendable {
    public enum Phase: String, Sendable {
        case precondition, up, postcondition, down
        case foreignKeyCheck = "foreign_key_check"
    }

    /// `0029_merge_profiles_by_family_slug`, or nil for checks of the whole run.
    public var migration: String?
    public var file: String?
    public var phase: Phase
    public var statement: SQLStatement?
    public var message: String
    /// The first rows of the failing check.
    public var rows: CheckRows?
    /// The version the database is still at.
    public var versionBefore: Int64?
    /// True when the run was a rehearsal on a copy.
    public var rehearsal = false

    public var description: String {
        var text: String
        switch phase {
        case .precondition: text = "precondition failed"
        case .postcondition: text = "postcondition failed"
        case .up: text = "SQL failed"
        case .down: text = "down SQL failed"
        case .foreignKeyCheck: text = "PRAGMA foreign_key_check found rows that point at nothing"
        }
        if let migration { text = "migration \(migration): " + text }
        if let statement, let file {
            text += "\n  at \(file):\(statement.line): \(oneLine(statement.sql))"
        }
        if !message.isEmpty { text += "\n  \(message)" }
        if let rows, !rows.isEmpty { text += "\n  first rows:\n" + rows.describe() }
        text += rehearsal
            ? "\nThis was a rehearsal on a copy: the live database was not touched."
            : "\nThe run was rolled back: nothing of it was applied; the database is still at version \(versionBefore.map(String.init) ?? "none")."
        return text
    }

    public var remedy: Remedy { .fixMigration(rehearsal: rehearsal) }
}
