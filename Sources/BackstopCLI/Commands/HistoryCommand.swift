import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct HistoryCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List applied migrations in the order they were applied, with the snapshot that undoes each run.",
            discussion: reflow("""
            The history lives in the database itself: a restore brings it back in step with the data. What
            Backstop did to the database over time (restores, rollbacks, recoveries ...) is in 'backstop journal'.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireStore: false)
            let reader = try Database.openForReading(resolved.database)
            let history = try MigrationHistory.readInOrder(reader)
            let runs = try RunHistory.read(reader)
            if output.json {
                output.emit(HistoryJSON(database: resolved.database, migrations: history.map(AppliedJSON.init), runs: runs.map(RunRecordJSON.init)))
                return
            }
            if history.isEmpty && runs.isEmpty { output.say("No migrations applied to \(resolved.database)."); return }
            var table = TextTable(headers: ["RUN", "VERSION", "NAME", "APPLIED (UTC)", "DURATION", "ROWS", "SNAPSHOT BEFORE THE RUN"])
            // Backstop's own runs and the application's migrator's runs, in run order.
            var rows: [(order: (Int64, Int), cells: [String])] = []
            for (index, entry) in history.enumerated() {
                let undo = entry.kind == .baseline ? "(baseline)" : entry.snapshotID ?? "(none: applied without a snapshot)"
                rows.append(((entry.run ?? 0, index), [entry.run.map(String.init) ?? "-", String(entry.version), entry.name,
                                                      String(entry.appliedAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                                                      "\(entry.durationMs) ms", String(entry.rowsChanged), undo]))
            }
            for record in runs {
                let versions = record.tool.map { "\($0) \(record.versionBefore ?? "none") -> \(record.versionAfter ?? "none")" } ?? "-"
                rows.append(((record.run, 0), [String(record.run), versions, record.command + (record.outcome == "applied" ? "" : " (\(record.outcome))"),
                                              String(record.startedAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                                              "\(record.durationMs) ms", "-", record.snapshotID ?? "(none)"]))
            }
            for row in rows.sorted(by: { $0.order < $1.order }) { table.append(row.cells) }
            output.say(table.render())
            if history.contains(where: { $0.kind == .migrate && $0.snapshotID != nil }) || runs.contains(where: { $0.snapshotID != nil }) {
                output.say("\nUndo the last run with: \(raw: session.context.command("rollback", migrations: true))")
            }
        }
    }
}
