import BackstopKit
import Foundation

// The JSON documents and shared words of the migration commands.

struct MigrationFileJSON: Encodable {
    var version: Int64
    /// The version as the layout writes it ("0003", "1.1", "20260115093000").
    var versionText: String
    var name: String
    var file: String
    var notes: [String]
    init(_ file: MigrationFile) {
        version = file.version
        versionText = file.shownVersion
        name = file.name
        self.file = file.fileName
        notes = file.notes
    }
    enum CodingKeys: String, CodingKey { case version, versionText = "version_text", name, file, notes }
}

struct AppliedJSON: Encodable {
    var version: Int64
    var name: String
    var checksum: String
    var appliedAt: String
    var durationMs: Int64
    var rowsChanged: Int64
    @Null var snapshotId: String?
    var kind: String
    @Null var run: Int64?
    var previousChecksums: [String]

    init(_ entry: AppliedMigration) {
        version = entry.version; name = entry.name; checksum = entry.checksum; appliedAt = entry.appliedAt
        durationMs = entry.durationMs; rowsChanged = entry.rowsChanged; snapshotId = entry.snapshotID
        kind = entry.kind.rawValue; run = entry.run; previousChecksums = entry.previousChecksums
    }

    enum CodingKeys: String, CodingKey {
        case version, name, checksum, appliedAt = "applied_at", durationMs = "duration_ms", rowsChanged = "rows_changed"
        case snapshotId = "snapshot_id", kind, run, previousChecksums = "previous_checksums"
    }
}

struct ProblemJSON: Encodable {
    var kind: String
    @Null var version: Int64?
    @Null var file: String?
    var message: String
    /// The flag that lets `migrate` run despite it, or null when the file must be fixed.
    @Null var override: String?

    init(_ problem: MigrationProblem) {
        kind = problem.kind.rawValue
        version = problem.version
        file = problem.file
        message = problem.message
        override = MigrationWords.overrideFlag(problem.kind)
    }
}

/// `backstop status --json` (and `check`, which adds `ok` and postcondition failures).
struct StatusJSON: Encodable {
    var schema: String
    @Null var database: String?
    @Null var migrations: String?
    @Null var currentVersion: Int64?
    @Null var appMigrations: AppMigrationJSON?
    @Null var layout: String?
    var appliedByToolOnly: [MigrationFileJSON] = []
    var applied: [AppliedJSON]
    var pending: [MigrationFileJSON]
    var problems: [ProblemJSON]
    @Null var ok: Bool?
    @Null var postconditionFailures: [PostconditionJSON]?

    struct PostconditionJSON: Encodable {
        @Null var migration: String?
        var line: Int
        var statement: String
        var rows: RowsJSON
    }

    init(command: String, status: MigrationStatus, database: String?, directory: String?) {
        schema = JSONOutput.schema(command)
        self.database = database
        migrations = directory
        currentVersion = status.currentVersion
        applied = status.applied.map(AppliedJSON.init)
        pending = status.pending.map(MigrationFileJSON.init)
        problems = status.problems.map(ProblemJSON.init)
    }

    enum CodingKeys: String, CodingKey {
        case schema, database, migrations, layout, currentVersion = "current_version", appMigrations = "app_migrations", applied, pending
        case appliedByToolOnly = "applied_by_tool_only"
        case problems, ok, postconditionFailures = "postcondition_failures"
    }
}

/// `backstop migrate --json` and `backstop down --json`.
struct MigrateJSON: Encodable {
    var schema: String
    var plan: Plan
    var dryRun: Bool
    var durationMs: Int64
    var steps: [Step]
    @Null var snapshot: SnapshotJSON?
    var tableCounts: [Count]

    struct Plan: Encodable {
        var database: String
        @Null var fromVersion: Int64?
        @Null var toVersion: Int64?
        var migrations: [MigrationFileJSON]
        enum CodingKeys: String, CodingKey { case database, fromVersion = "from_version", toVersion = "to_version", migrations }
    }
    struct Step: Encodable {
        var version: Int64
        var name: String
        var durationMs: Int64
        var rowsChanged: Int64
        enum CodingKeys: String, CodingKey { case version, name, durationMs = "duration_ms", rowsChanged = "rows_changed" }
    }
    struct Count: Encodable {
        var table: String
        @Null var before: Int64?
        @Null var after: Int64?
    }

    init(command: String, _ report: MigrationReport) {
        schema = JSONOutput.schema(command)
        plan = Plan(database: report.plan.database, fromVersion: report.plan.fromVersion, toVersion: report.plan.toVersion,
                    migrations: report.plan.migrations.map(MigrationFileJSON.init))
        dryRun = report.dryRun
        durationMs = report.durationMs
        steps = report.steps.map { Step(version: $0.version, name: $0.name, durationMs: $0.durationMs, rowsChanged: $0.rowsChanged) }
        snapshot = report.snapshot.map { SnapshotJSON($0) }
        tableCounts = report.tableCounts.map { Count(table: $0.table, before: $0.before, after: $0.after) }
    }

    enum CodingKeys: String, CodingKey {
        case schema, plan, dryRun = "dry_run", durationMs = "duration_ms", steps, snapshot, tableCounts = "table_counts"
    }
}

/// `backstop history --json`.
struct HistoryJSON: Encodable {
    var schema = JSONOutput.schema("history")
    var database: String
    /// In the order the history recorded them.
    var migrations: [AppliedJSON]
    /// Runs of the application's own migrator under `backstop run`, by run number.
    var runs: [RunRecordJSON]
}

/// One run of an application's migrator under `backstop run`.
struct RunRecordJSON: Encodable {
    var run: Int64
    var command: String
    var exitStatus: Int32
    @Null var tool: String?
    @Null var versionBefore: String?
    @Null var versionAfter: String?
    @Null var snapshotID: String?
    var startedAt: String
    var durationMs: Int64
    var outcome: String

    init(_ record: WrappedRunRecord) {
        run = record.run; command = record.command; exitStatus = record.exitStatus; tool = record.tool
        versionBefore = record.versionBefore; versionAfter = record.versionAfter; snapshotID = record.snapshotID
        startedAt = record.startedAt; durationMs = record.durationMs; outcome = record.outcome
    }

    enum CodingKeys: String, CodingKey {
        case run, command, exitStatus = "exit_status", tool, versionBefore = "version_before", versionAfter = "version_after"
        case snapshotID = "snapshot_id", startedAt = "started_at", durationMs = "duration_ms", outcome
    }
}

/// `backstop baseline --json`.
struct BaselineJSON: Encodable {
    var schema = JSONOutput.schema("baseline")
    var database: String
    var recorded: [AppliedJSON]
}

/// `backstop repair --json`.
struct RepairJSON: Encodable {
    var schema = JSONOutput.schema("repair")
    var database: String
    var repaired: [Repaired]

    struct Repaired: Encodable {
        var version: Int64
        var name: String
        var file: String
        var oldChecksum: String
        var newChecksum: String
        enum CodingKeys: String, CodingKey { case version, name, file, oldChecksum = "old_checksum", newChecksum = "new_checksum" }
    }
}

/// `backstop new --json`.
struct NewJSON: Encodable {
    var schema = JSONOutput.schema("new")
    var file: String
}

/// Words for migration plans, reports and problems.
enum MigrationWords {
    static func version(_ v: Int64?, _ names: [Int64: String] = [:]) -> String { v.map { names[$0] ?? String($0) } ?? "none" }

    static func overrideFlag(_ kind: MigrationProblem.Kind) -> String? {
        switch kind {
        case .changed: return "--allow-changed"
        case .missing: return "--allow-missing"
        case .duplicateVersion: return "--allow-duplicate-versions"
        case .outOfOrder: return "--allow-out-of-order"
        case .invalid, .toolFailed: return nil
        }
    }

    static func plan(_ plan: MigrationPlan, verb: String = "apply") -> Line {
        let count = plan.migrations.count + plan.repeatables.count
        var lines: [Line] = ["Plan for \(plan.database): version \(version(plan.fromVersion, plan.versionNames)) -> \(version(plan.toVersion, plan.versionNames)), \(verb) \(count) migration\(raw: count == 1 ? "" : "s"):"]
        for file in plan.migrations + plan.repeatables {
            let checks = file.require.isEmpty && file.verify.isEmpty ? ""
                : "  (\(file.require.count) precondition\(file.require.count == 1 ? "" : "s"), \(file.verify.count) postcondition\(file.verify.count == 1 ? "" : "s"))"
            lines.append("  \(file.displayName)\(raw: checks)")
        }
        return Line(raw: lines.map(\.text).joined(separator: "\n"))
    }

    static func steps(_ steps: [MigrationStep]) -> Line {
        var table = TextTable(headers: ["VERSION", "NAME", "DURATION", "ROWS CHANGED"])
        for step in steps { table.append([step.shownVersion, step.name, "\(step.durationMs) ms", String(step.rowsChanged)]) }
        return table.render()
    }

    static func counts(_ counts: [TableCount]) -> Line {
        var table = TextTable(headers: ["TABLE", "ROWS BEFORE", "ROWS AFTER", "CHANGE"])
        for count in counts {
            let change: String
            switch (count.before, count.after) {
            case let (b?, a?): change = a == b ? "" : (a > b ? "+\(a - b)" : "\(a - b)")
            case (nil, _?): change = "new table"
            case (_?, nil): change = "dropped"
            default: change = ""
            }
            table.append([count.table, count.before.map(String.init) ?? "-", count.after.map(String.init) ?? "-", change])
        }
        return table.render()
    }

    static func problems(_ problems: [MigrationProblem], app: AppMigrationState? = nil) -> Line {
        var lines = problems.map { problem in Line("  - \(problem.message) (\(raw: Words.overrideWords(problem.kind)))").text }
        if let app, app.dirty {
            lines.append(Line("  - \(app.tool): \(app.problem ?? "a migration failed") (fix it with \(app.tool), or restore the snapshot taken before that run)").text)
        }
        return lines.isEmpty ? "Problems: none" : Line(raw: "Problems:\n" + lines.joined(separator: "\n"))
    }
}
