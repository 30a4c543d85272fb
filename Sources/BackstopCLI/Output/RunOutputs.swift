import BackstopKit
import Foundation

/// Words for applications' own migrators and protected runs.
enum AppWords {
    /// `alembic at 3f2a1b9c` / `django at auth.0012 (14 applied)` / `golang-migrate at 7 (DIRTY: ...)`.
    static func state(_ state: AppMigrationState) -> String {
        var text = "\(state.tool) at \(state.version ?? "nothing applied")"
        if let applied = state.applied, state.tool != "alembic" { text += " (\(applied) applied)" }
        if state.dirty { text += " (FAILED: \(state.problem ?? "a migration failed"))" }
        return text
    }

    /// A short column form: `alembic 3f2a1b9c`.
    static func short(_ state: AppMigrationState?) -> String {
        guard let state else { return "-" }
        return "\(state.tool) \(state.version ?? "-")" + (state.dirty ? " (failed)" : "")
    }

    /// `alembic 3f2a1b -> 9b1c7d`, `no migrator table -> drizzle 1700000000`.
    static func change(_ before: AppMigrationState?, _ after: AppMigrationState?) -> String {
        func words(_ s: AppMigrationState?) -> String { s.map { "\($0.tool) \($0.version ?? "(nothing applied)")" } ?? "no migrator table" }
        if before == after { return "\(words(after)) (unchanged)" }
        if let before, let after, before.tool == after.tool {
            return "\(after.tool) \(before.version ?? "(nothing applied)") -> \(after.version ?? "(nothing applied)")"
        }
        return "\(words(before)) -> \(words(after))"
    }

    static func failure(_ failure: RunFailure, command: String) -> String {
        switch failure {
        case .command(let status, let signal, let timedOut, let interruptedBy, let error):
            if let error { return "the protected code failed: \(error)" }
            if timedOut { return "\(command) ran past its time limit and was stopped" }
            if let interruptedBy { return "Backstop was interrupted (signal \(interruptedBy)) while \(command) ran" }
            if let signal { return "\(command) was ended by signal \(signal)" }
            return "\(command) exited with status \(status.map(String.init) ?? "?")"
        case .integrity(let method, let problems):
            return "PRAGMA \(method) found problems: \(problems.prefix(3).joined(separator: "; "))"
        case .foreignKeys(let violations):
            let shown = violations.prefix(3).map { "\($0.table) rowid \($0.rowid) -> \($0.parent)" }.joined(separator: ", ")
            return "\(violations.count) row\(violations.count == 1 ? "" : "s") now point\(violations.count == 1 ? "s" : "") at nothing: \(shown)\(violations.count > 3 ? ", ..." : "")"
        case .verify(let source, let line, let sql, let rows):
            return "\(source) line \(line) returned rows: \(oneLine(sql))\n" + rows.prefix(5).map { "      \($0)" }.joined(separator: "\n")
        case .dirty(let tool, let problem):
            return "\(tool) records a failed migration: \(problem)"
        case .unchanged(let tool, let version):
            let what = tool == "user_version" ? "PRAGMA user_version" : "the \(tool ?? "migration") version"
            return "\(what) did not move (still \(version ?? "none")); add --allow-no-change if that is expected"
        case .liveChangedDuringRehearsal:
            return "the live database changed during the rehearsal: the command did not use the copy ({db} or BACKSTOP_DB), or another process wrote"
        }
    }

    static func schema(_ diff: SchemaDiff) -> String {
        var parts: [String] = []
        if !diff.tablesAdded.isEmpty { parts.append("new tables \(diff.tablesAdded.joined(separator: ", "))") }
        if !diff.tablesRemoved.isEmpty { parts.append("dropped tables \(diff.tablesRemoved.joined(separator: ", "))") }
        for (table, columns) in diff.columnsAdded.sorted(by: { $0.key < $1.key }) { parts.append("\(table) + \(columns.joined(separator: ", "))") }
        for (table, columns) in diff.columnsRemoved.sorted(by: { $0.key < $1.key }) { parts.append("\(table) - \(columns.joined(separator: ", "))") }
        return parts.joined(separator: "; ")
    }
}

/// `app_migrations` in JSON documents.
struct AppMigrationJSON: Encodable {
    var tool: String
    @Null var version: String?
    @Null var applied: Int?
    var dirty: Bool
    @Null var problem: String?

    init(_ state: AppMigrationState) {
        tool = state.tool; version = state.version; applied = state.applied; dirty = state.dirty; problem = state.problem
    }
}

/// `backstop run --json`.
struct RunJSON: Encodable {
    var schema = JSONOutput.schema("run")
    var database: String
    var command: [String]
    var dryRun: Bool
    var ok: Bool
    @Null var snapshot: SnapshotJSON?
    @Null var before: AppMigrationJSON?
    @Null var after: AppMigrationJSON?
    var failures: [Failure]
    var restored: Bool
    @Null var failedStateSnapshot: String?
    /// With --no-restore: the command that restores the state before the run.
    @Null var restoreCommand: String?
    @Null var run: Int64?
    /// After a recorded run: the command that undoes it.
    @Null var undo: String?
    var otherUsers: [String]
    var notChecked: [String]
    var tableCounts: [MigrateJSON.Count]
    @Null var schemaChanges: DiffJSON.SchemaChanges?
    @Null var exitStatus: Int32?
    @Null var signal: Int32?
    var stdout: String
    var stderr: String
    var durationMs: Int64

    struct Failure: Encodable {
        var kind: String
        var message: String
    }

    init(_ report: ProtectedRunReport, command: [String], outcome: CommandOutcome?, undo: String?, restoreFailed: String?) {
        database = report.database
        self.command = command
        dryRun = report.rehearsal
        ok = report.succeeded
        snapshot = report.snapshot.map { SnapshotJSON($0) }
        before = report.before.map(AppMigrationJSON.init)
        after = report.after.map(AppMigrationJSON.init)
        let words = command.map(Words.shellQuoted).joined(separator: " ")
        failures = report.failures.map { failure in
            let kind: String
            switch failure {
            case .command: kind = "command"
            case .integrity: kind = "integrity"
            case .foreignKeys: kind = "foreign_keys"
            case .verify: kind = "verify"
            case .dirty: kind = "dirty"
            case .unchanged: kind = "unchanged"
            case .liveChangedDuringRehearsal: kind = "live_changed"
            }
            return Failure(kind: kind, message: AppWords.failure(failure, command: words))
        }
        restored = report.restored != nil
        failedStateSnapshot = report.restored?.preRestore?.id
        restoreCommand = restoreFailed
        run = report.record?.run
        self.undo = undo
        otherUsers = report.otherUsers
        notChecked = report.notChecked
        tableCounts = report.tableCounts.map { MigrateJSON.Count(table: $0.table, before: $0.before, after: $0.after) }
        schemaChanges = report.schema.map {
            DiffJSON.SchemaChanges(tablesAdded: $0.tablesAdded, tablesRemoved: $0.tablesRemoved, columnsAdded: $0.columnsAdded,
                                   columnsRemoved: $0.columnsRemoved)
        }
        exitStatus = outcome?.exitStatus
        signal = outcome?.signal
        stdout = String(decoding: outcome?.stdout ?? Data(), as: UTF8.self)
        stderr = String(decoding: outcome?.stderr ?? Data(), as: UTF8.self)
        durationMs = report.durationMs
    }

    enum CodingKeys: String, CodingKey {
        case schema, database, command, dryRun = "dry_run", ok, snapshot, before, after, failures, restored
        case failedStateSnapshot = "failed_state_snapshot", restoreCommand = "restore_command", run, undo
        case otherUsers = "other_users", notChecked = "not_checked", tableCounts = "table_counts", schemaChanges = "schema_changes"
        case exitStatus = "exit_status", signal, stdout, stderr, durationMs = "duration_ms"
    }
}
