import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RecoverCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recover",
            abstract: "Bring back rows a snapshot holds and the live database lost, without rolling everything back.",
            discussion: """
            Selects the rows of TABLE in the snapshot that match --where (evaluated against a private read-only
            copy of the snapshot only) and are missing from the live database by key; brings back the rows
            they reference that are missing live (transitively); with --children, the rows that referenced them
            in the snapshot and are missing live (transitively); with --repoint, points live rows that a merge
            re-pointed back at them. Only columns both schemas have are copied; new columns take their
            defaults, and a required column the snapshot lacks needs --set. Everything happens in one
            transaction after a 'pre-recover' snapshot, with PRAGMA foreign_key_check empty before commit;
            a unique clash or any failure changes nothing and says which rows clashed.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Argument(help: ArgumentHelp("The snapshot to recover from (id or unique prefix).", valueName: "snapshot"))
        var snapshot: String

        @Option(help: ArgumentHelp("The table whose rows to bring back.", valueName: "table"))
        var table: String

        @Option(name: .customLong("where"), help: ArgumentHelp("Which rows, as an SQL condition on the snapshot's rows, e.g. \"id = 42\".", valueName: "predicate"))
        var predicate: String

        @Flag(help: "Also bring back rows that referenced the recovered rows and are missing live (transitively).")
        var children = false

        @Flag(help: "Point live rows that were re-pointed elsewhere (by a merge) back at the recovered rows.")
        var repoint = false

        @Option(name: .customLong("set"), help: ArgumentHelp("COLUMN=VALUE or TABLE.COLUMN=VALUE for the recovered rows: a column the snapshot lacks, or an override. Repeatable.", valueName: "assignment"))
        var assignments: [String] = []

        @Flag(help: "Print the plan; change nothing.")
        var dryRun = false

        @Flag(help: "Allow a snapshot of another database as the source.")
        var otherDatabase = false

        @OptionGroup var migrationsOptions: MigrationsOptions

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(migrations: migrationsOptions.dir)
            let store = try target.openStore(resolved, create: false)
            let manifest = try store.snapshot(id: snapshot)
            var request = RecoveryRequest(table: table, predicate: predicate)
            request.children = children
            request.repoint = repoint
            for assignment in assignments {
                let (name, value) = try RecoveryRequest.parseSet(assignment)
                request.sets[name] = value
            }
            if !dryRun && !confirmation.yes && !Output.stdinIsTerminal {
                // Nobody to ask: refuse before any work.
                try confirmation.confirm("", question: "", action: "recovering rows into the live database", output: output)
            }
            var options = RecoveryOptions()
            options.lockWait = lock.lockWait
            options.allowOtherDatabase = otherDatabase
            options.dryRun = dryRun
            options.migrations = resolved.migrations
            if !dryRun && !confirmation.yes {
                options.confirm = { plan in
                    if !output.json { output.say(RecoverCommand.planText(plan, dryRun: true) + "\n") }
                    try confirmation.confirm("", question: "Recover these rows into \(resolved.database)?",
                                             action: "recovering rows into the live database", output: output)
                }
            }
            let bar = output.progress("recover")
            options.progress = bar?.handler
            let report = try Recoverer.recover(manifest, store: store, database: resolved.database, request: request, options: options)
            bar?.finish()
            emit(report, output: output)
            if report.plan.matched == 0 {
                throw ExitCode(ExitStatus.notFound.rawValue)
            }
        }

        func emit(_ report: RecoveryReport, output: Output) {
            let plan = report.plan
            if output.json {
                output.emitJSON([
                    "snapshot": plan.snapshot.id, "database": plan.database, "dry_run": report.dryRun,
                    "matched": plan.matched,
                    "tables": plan.rowsPerTable.map { ["table": $0.table, "rows": $0.count] },
                    "rows": plan.rows.map { row in
                        ["table": row.table, "key": row.key.map(\.jsonObject), "reason": RecoverCommand.reasonText(row.reason),
                         "values": Dictionary(uniqueKeysWithValues: zip(row.columns, row.values.map(\.jsonObject)))] as [String: Any]
                    },
                    "repointed": plan.repoints.map { ["table": $0.table, "key": $0.key.map(\.jsonObject), "columns": $0.columns,
                                                      "from": $0.from.map(\.jsonObject), "to": $0.to.map(\.jsonObject)] as [String: Any] },
                    "already_present": plan.alreadyPresent, "defaulted_columns": plan.defaulted,
                    "pre_recover": report.preRecover.map { JSON.object($0) } ?? NSNull(),
                    "checks_run": report.checksRun,
                    "check_failures": report.checkFailures.map { ["migration": $0.check.name, "line": $0.check.statement.line,
                                                                 "statement": $0.check.statement.sql, "rows": $0.rows.jsonObject] as [String: Any] },
                ] as [String: Any])
                return
            }
            if plan.matched == 0 {
                output.say("No row of \(plan.request.table) in snapshot \(plan.snapshot.id) matches the condition; nothing was changed.")
                return
            }
            if plan.isEmpty {
                output.say("Nothing to recover: every row of \(plan.request.table) matching the condition (\(plan.alreadyPresent)) is present in the live database; nothing was changed.")
                return
            }
            output.say(RecoverCommand.planText(plan, dryRun: report.dryRun))
            if report.dryRun { output.say("Dry run: the rows were inserted in a transaction that was rolled back; nothing was changed.") }
            if let pre = report.preRecover {
                output.say("Pre-recover snapshot \(pre.id) taken; undo with: backstop restore \(pre.id) --db \(plan.database)")
            }
            if report.checksRun > 0 {
                if report.checkFailures.isEmpty {
                    output.say("Postconditions: the \(report.checksRun) verify quer\(report.checksRun == 1 ? "y" : "ies") of the applied migrations return no rows\(report.dryRun ? " with these rows in place" : "").")
                } else {
                    output.say("Postconditions that fail with these rows in place:")
                    for failure in report.checkFailures {
                        output.say("  \(failure.check.name) line \(failure.check.statement.line): \(oneLine(failure.check.statement.sql))\n" + failure.rows.describe())
                    }
                }
            }
        }

        static func reasonText(_ reason: RecoveredRow.Reason) -> String {
            switch reason {
            case .selected: return "selected"
            case .parent(let of): return "referenced by \(of)"
            case .child(let of): return "refers to \(of)"
            }
        }

        static func planText(_ plan: RecoveryPlan, dryRun: Bool) -> String {
            var lines = ["\(dryRun ? "Plan: recover" : "Recovered") from snapshot \(plan.snapshot.id) into \(plan.database):"]
            for (table, count) in plan.rowsPerTable { lines.append("  \(table): \(count) row\(count == 1 ? "" : "s")") }
            for row in plan.rows { lines.append("    + \(row.label)  \(reasonText(row.reason))") }
            if !plan.repoints.isEmpty {
                lines.append("  \(dryRun ? "re-point" : "re-pointed") \(plan.repoints.count) live row\(plan.repoints.count == 1 ? "" : "s"):")
                for repoint in plan.repoints {
                    lines.append("    ~ \(repoint.label)  \(repoint.columns.joined(separator: ", ")): \(repoint.from.map(\.sqlLiteralForDisplay).joined(separator: ", ")) -> \(repoint.to.map(\.sqlLiteralForDisplay).joined(separator: ", "))")
                }
            }
            for (table, columns) in plan.defaulted.sorted(by: { $0.key < $1.key }) {
                lines.append("  \(table): \(columns.joined(separator: ", ")) not in the snapshot; \(columns.count == 1 ? "takes its" : "take their") default")
            }
            if plan.alreadyPresent > 0 { lines.append("  \(plan.alreadyPresent) matching row\(plan.alreadyPresent == 1 ? " is" : "s are") present live and left alone") }
            return lines.joined(separator: "\n")
        }
    }
}
