import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct HistoryCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List applied migrations in the order they were applied, with the snapshot that undoes each run.",
            discussion: """
            The history lives in the database itself: a restore brings it back in step with the data. What
            Backstop did to the database over time (restores, rollbacks, recoveries ...) is in 'backstop journal'.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireStore: false)
            let history = try MigrationHistory.readInOrder(try Database.openForReading(resolved.database))
            if output.json { output.emit(HistoryJSON(database: resolved.database, migrations: history.map(AppliedJSON.init))); return }
            if history.isEmpty { output.say("No migrations applied to \(resolved.database)."); return }
            var table = TextTable(headers: ["RUN", "VERSION", "NAME", "APPLIED (UTC)", "DURATION", "ROWS", "SNAPSHOT BEFORE THE RUN"])
            for entry in history {
                let undo = entry.kind == .baseline ? "(baseline)" : entry.snapshotID ?? "(none: applied without a snapshot)"
                table.append([entry.run.map(String.init) ?? "-", String(entry.version), entry.name,
                              String(entry.appliedAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                              "\(entry.durationMs) ms", String(entry.rowsChanged), undo])
            }
            output.say(table.render())
            if history.contains(where: { $0.kind == .migrate && $0.snapshotID != nil }) {
                output.say("\nUndo the last run with: \(raw: session.context.command("rollback", migrations: true))")
            }
        }
    }
}
