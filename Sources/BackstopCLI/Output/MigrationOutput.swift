import BackstopKit
import Foundation

/// Words and JSON for migration plans, reports, status and history.
enum MigrationOutput {
    static func version(_ v: Int64?) -> String { v.map(String.init) ?? "none" }

    static func planText(_ plan: MigrationPlan, verb: String = "apply") -> String {
        var lines = ["Plan for \(plan.database): version \(version(plan.fromVersion)) -> \(version(plan.toVersion)), \(verb) \(plan.migrations.count) migration\(plan.migrations.count == 1 ? "" : "s"):"]
        for file in plan.migrations { lines.append("  \(file.displayName)" + (file.require.isEmpty && file.verify.isEmpty ? "" : "  (\(file.require.count) precondition\(file.require.count == 1 ? "" : "s"), \(file.verify.count) postcondition\(file.verify.count == 1 ? "" : "s"))")) }
        return lines.joined(separator: "\n")
    }

    static func planJSON(_ plan: MigrationPlan) -> [String: Any] {
        ["database": plan.database, "from_version": plan.fromVersion ?? NSNull(), "to_version": plan.toVersion ?? NSNull(),
         "migrations": plan.migrations.map { ["version": $0.version, "name": $0.name, "file": $0.fileName] }]
    }

    static func reportJSON(_ report: MigrationReport) -> [String: Any] {
        [
            "plan": planJSON(report.plan), "dry_run": report.dryRun, "duration_ms": report.durationMs,
            "steps": report.steps.map(\.jsonObject),
            "snapshot": report.snapshot.map { JSON.object($0) } ?? NSNull(),
            "table_counts": report.tableCounts.map { ["table": $0.table, "before": $0.before ?? NSNull(), "after": $0.after ?? NSNull()] as [String: Any] },
        ]
    }

    static func stepsTable(_ steps: [MigrationStep]) -> String {
        var table = TextTable(headers: ["VERSION", "NAME", "DURATION", "ROWS CHANGED"])
        for step in steps { table.rows.append([String(step.version), step.name, "\(step.durationMs) ms", String(step.rowsChanged)]) }
        return table.render()
    }

    static func countsTable(_ counts: [TableCount]) -> String {
        var table = TextTable(headers: ["TABLE", "ROWS BEFORE", "ROWS AFTER", "CHANGE"])
        for count in counts {
            let change: String
            switch (count.before, count.after) {
            case let (b?, a?): change = a == b ? "" : (a > b ? "+\(a - b)" : "\(a - b)")
            case (nil, _?): change = "new table"
            case (_?, nil): change = "dropped"
            default: change = ""
            }
            table.rows.append([count.table, count.before.map(String.init) ?? "-", count.after.map(String.init) ?? "-", change])
        }
        return table.render()
    }

    static func statusJSON(_ status: MigrationStatus, database: String?, directory: String) -> [String: Any] {
        [
            "database": database ?? NSNull(), "migrations": directory,
            "current_version": status.currentVersion ?? NSNull(),
            "applied": status.applied.map(\.jsonObject),
            "pending": status.pending.map { ["version": $0.version, "name": $0.name, "file": $0.fileName] },
            "problems": status.problems.map(problemJSON),
        ]
    }

    static func problemJSON(_ problem: MigrationProblem) -> [String: Any] {
        ["kind": problem.kind.rawValue, "version": problem.version ?? NSNull(), "file": problem.file ?? NSNull(),
         "message": problem.message, "override": problem.overrideFlag ?? NSNull()]
    }

    static func problemLines(_ problems: [MigrationProblem]) -> String {
        problems.isEmpty ? "Problems: none"
            : "Problems:\n" + problems.map { "  - \($0.message)" + ($0.overrideFlag.map { " (migrate override: \($0))" } ?? "") }.joined(separator: "\n")
    }
}
