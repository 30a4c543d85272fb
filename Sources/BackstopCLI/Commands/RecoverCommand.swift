import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RecoverCommand: BackstopCommand, Confirming {
        static let configuration = CommandConfiguration(
            commandName: "recover",
            abstract: "Bring back rows a snapshot holds and the live database lost, without rolling everything back.",
            discussion: reflow("""
            Selects the rows of TABLE in the snapshot that match --where (evaluated against a private read-only
            copy of the snapshot only) and are missing from the live database by key; brings back the rows
            they reference that are missing live (transitively); with --children, the rows that referenced them
            in the snapshot and are missing live (transitively); with --repoint, points live rows that a merge
            re-pointed back at them. Only columns both schemas have are copied; new columns take their
            defaults, and a required column the snapshot lacks needs --set. Everything happens in one
            transaction after a 'pre-recover' snapshot, with PRAGMA foreign_key_check empty before commit;
            a unique clash or any failure changes nothing and says which rows clashed.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var source: SourceOptions
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

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, migrations: migrationsOptions.dir)
            let from = try session.openSource(resolved, from: source.from, options: target)
            let manifest = try from.snapshot(id: snapshot)
            // The pre-recover snapshot goes into the local store (created if need be, when reading a replica).
            let store = try from as? SnapshotStore ?? session.openStore(resolved, create: true)
            var request = RecoveryRequest(table: table, predicate: predicate)
            request.children = children
            request.repoint = repoint
            for assignment in assignments {
                let (name, value) = try RecoverCommand.parseSet(assignment)
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
            options.notify = output.notifier
            if !dryRun && !confirmation.yes {
                options.confirm = { plan in
                    if !output.json { output.say(RecoverCommand.planText(plan, dryRun: true) + "\n") }
                    try confirmation.confirm("", question: "Recover these rows into \(resolved.database)?",
                                             action: "recovering rows into the live database", output: output)
                }
            }
            let bar = output.progress("recover")
            options.progress = bar?.handler
            let report = try Recoverer.recover(manifest, from: from, store: store, database: resolved.database, request: request, options: options)
            bar?.finish()
            emit(report, session: session)
            if report.plan.matched == 0 { throw ExitCode(ExitStatus.notFound.rawValue) }
        }

        /// Parses `column=value` or `table.column=value`; the value is an integer, a real, NULL, or text
        /// (quotes around text are optional).
        static func parseSet(_ text: String) throws -> (String, SQLiteValue) {
            guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
                throw ValidationError("'--set \(text)': write COLUMN=VALUE or TABLE.COLUMN=VALUE")
            }
            let name = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
            let raw = String(text[text.index(after: equals)...])
            let value: SQLiteValue
            if raw.uppercased() == "NULL" { value = .null }
            else if let integer = Int64(raw) { value = .integer(integer) }
            else if let real = Double(raw), raw.contains("."), real.isFinite { value = .real(real) }
            else if raw.count >= 2, raw.hasPrefix("'"), raw.hasSuffix("'") { value = .text(String(raw.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")) }
            else { value = .text(raw) }
            return (name, value)
        }

        func emit(_ report: RecoveryReport, session: Session) {
            let output = session.output
            let plan = report.plan
            if output.json {
                output.emit(RecoverJSON(
                    snapshot: plan.snapshot.id, database: plan.database, dryRun: report.dryRun, matched: plan.matched,
                    alreadyPresent: plan.alreadyPresent, tables: plan.rowsPerTable.map { .init(table: $0.table, rows: $0.count) },
                    rows: plan.rows.map { row in
                        .init(table: row.table, key: row.key.map(JSONValue.init), reason: RecoverCommand.reasonText(row.reason),
                              values: Dictionary(zip(row.columns, row.values.map(JSONValue.init)), uniquingKeysWith: { first, _ in first }))
                    },
                    repointed: plan.repoints.map { .init(table: $0.table, key: $0.key.map(JSONValue.init), columns: $0.columns,
                                                         from: $0.from.map(JSONValue.init), to: $0.to.map(JSONValue.init)) },
                    defaultedColumns: plan.defaulted, preRecover: report.preRecover.map { SnapshotJSON($0) },
                    checksRun: report.checksRun,
                    checkFailures: report.checkFailures.map { .init(migration: $0.check.name, line: $0.check.statement.line,
                                                                   statement: $0.check.statement.sql, rows: RowsJSON($0.rows)) }))
                return
            }
            if plan.matched == 0 {
                output.say("No row of \(plan.request.table) in snapshot \(plan.snapshot.id) matches the condition; nothing was changed.")
                return
            }
            if plan.isEmpty {
                output.say("Nothing to recover: every row of \(plan.request.table) matching the condition (\(raw: String(plan.alreadyPresent))) is present in the live database; nothing was changed.")
                return
            }
            output.say(RecoverCommand.planText(plan, dryRun: report.dryRun))
            if report.dryRun { output.say("Dry run: the rows were inserted in a transaction that was rolled back; nothing was changed.") }
            if let pre = report.preRecover {
                var context = session.context
                context.database = plan.database
                output.say("Pre-recover snapshot \(pre.id) taken; undo with: \(raw: context.command("restore", [pre.id], migrations: true, changes: true))")
            }
            if report.checksRun > 0 {
                let n = report.checksRun
                if report.checkFailures.isEmpty {
                    output.say("Postconditions hold: \(raw: String(n)) verify quer\(raw: n == 1 ? "y" : "ies") of the applied migrations return\(raw: n == 1 ? "s" : "") no rows with these rows in place.")
                } else {
                    let failed = report.checkFailures.count
                    output.warn("\(raw: String(failed)) of \(raw: String(n)) verify quer\(raw: n == 1 ? "y" : "ies") of the applied migrations return\(raw: failed == 1 ? "s" : "") rows with these rows in place: the recovered rows break what \(raw: failed == 1 ? "that migration" : "those migrations") guarantee\(raw: failed == 1 ? "s" : "")\(raw: report.dryRun ? "" : " (undo with the command above, or fix the rows)")")
                    for failure in report.checkFailures {
                        output.note("  \(failure.check.name) line \(String(failure.check.statement.line)): \(oneLine(failure.check.statement.sql))\n\(lines: failure.rows.describe())")
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

        static func planText(_ plan: RecoveryPlan, dryRun: Bool) -> Line {
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
            return Line(raw: lines.map(TerminalText.escape).joined(separator: "\n"))
        }
    }
}
