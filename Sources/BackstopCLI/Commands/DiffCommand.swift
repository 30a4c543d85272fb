import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct DiffCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "diff",
            abstract: "Show, per table, what a snapshot holds that the live database (or another snapshot) lost.",
            discussion: reflow("""
            Rows are matched by primary key (rowid for tables without one; WITHOUT ROWID tables by their key).
            'deleted' counts rows in the snapshot that the other side no longer has, 'inserted' rows the other
            side has that the snapshot lacks, 'changed' rows with the same key and other values. Schema
            differences (tables and columns added or removed) are listed too. With --table, the rows themselves.
            The snapshot is read in place (nothing is decompressed to disk); nothing is changed.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: ArgumentHelp("The snapshot id (or a unique prefix of at least 8 characters).", valueName: "snapshot"))
        var snapshot: String

        @Option(help: ArgumentHelp("Compare with this snapshot instead of the live database.", valueName: "snapshot"))
        var against: String?

        @Flag(help: "Compare with the live database (the default).")
        var live = false

        @Option(help: ArgumentHelp("Only this table, listing its rows.", valueName: "table"))
        var table: String?

        @Option(help: ArgumentHelp("With --table, list at most this many rows of each sort.", valueName: "n"))
        var limit: Int = 1000

        func validate() throws {
            if live && against != nil { throw ValidationError("give only one of '--against' and '--live'") }
            if limit < 1 || limit > 1_000_000 { throw ValidationError("'--limit' must be between 1 and 1000000") }
        }

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: against == nil)
            let store = try session.openSource(resolved, from: source.from, options: target)
            let manifest = try store.snapshot(id: snapshot)
            let side: DiffSide = try against.map { .snapshot(try store.snapshot(id: $0)) } ?? .live(resolved.database)
            let bar = output.progress("diff")
            let report = try Differ.diff(manifest, against: side, store: store, table: table, rowLimit: limit, progress: bar?.handler)
            bar?.finish()
            if output.json { output.emit(DiffCommand.json(report)); return }
            output.say("Snapshot \(manifest.id) (\(manifest.createdAt)) against \(raw: report.against == "live" ? Line("the live database \(resolved.database)").text : Line("snapshot \(report.against)").text):\n")
            var table = TextTable(headers: ["TABLE", "DELETED", "INSERTED", "CHANGED", "MATCHED BY", ""])
            for diff in report.tables {
                table.append([diff.table, String(diff.deleted), String(diff.inserted), String(diff.changed), diff.key.joined(separator: ", "), diff.note ?? ""])
            }
            output.say(table.render())
            let schema = report.schema
            if !schema.isEmpty {
                output.say("\nSchema changes since the snapshot:")
                for name in schema.tablesAdded { output.say("  table added:   \(name)") }
                for name in schema.tablesRemoved { output.say("  table removed: \(name)") }
                for (name, columns) in schema.columnsAdded.sorted(by: { $0.key < $1.key }) { output.say("  \(name): columns added: \(columns.joined(separator: ", "))") }
                for (name, columns) in schema.columnsRemoved.sorted(by: { $0.key < $1.key }) { output.say("  \(name): columns removed: \(columns.joined(separator: ", "))") }
            }
            for diff in report.tables {
                guard let rows = diff.rows else { continue }
                func line(_ values: [SQLiteValue]) -> String {
                    zip(rows.columns, values).map { "\($0)=\($1.sqlLiteralForDisplay)" }.joined(separator: ", ")
                }
                output.say("\nRows of \(diff.table) only in the snapshot (deleted since):")
                for row in rows.deleted { output.say("  - \(line(row))") }
                output.say("\nRows of \(diff.table) only in \(report.against == "live" ? "the live database" : report.against) (inserted since):")
                for row in rows.inserted { output.say("  + \(line(row))") }
                output.say("\nRows of \(diff.table) changed:")
                for change in rows.changed {
                    let changes = rows.columns.indices.filter { change.before[$0] != change.after[$0] }
                        .map { "\(rows.columns[$0]): \(change.before[$0].sqlLiteralForDisplay) -> \(change.after[$0].sqlLiteralForDisplay)" }
                    output.say("  ~ \(diff.key.joined(separator: ","))=\(change.key.map(\.sqlLiteralForDisplay).joined(separator: ",")): \(changes.joined(separator: "; "))")
                }
                if rows.truncated { output.note("(lists cut at \(raw: String(limit)) rows; use --limit)") }
            }
        }

        static func json(_ report: DiffReport) -> DiffJSON {
            DiffJSON(snapshot: report.snapshot.id, against: report.against, tables: report.tables.map { diff in
                DiffJSON.Table(table: diff.table, deleted: diff.deleted, inserted: diff.inserted, changed: diff.changed, key: diff.key,
                               note: diff.note, rows: diff.rows.map { rows in
                    let asObject = { (values: [SQLiteValue]) -> [String: JSONValue] in
                        Dictionary(zip(rows.columns, values.map(JSONValue.init)), uniquingKeysWith: { first, _ in first })
                    }
                    return DiffJSON.Rows(deleted: rows.deleted.map(asObject), inserted: rows.inserted.map(asObject),
                                         changed: rows.changed.map { DiffJSON.Change(key: $0.key.map(JSONValue.init), before: asObject($0.before), after: asObject($0.after)) },
                                         truncated: rows.truncated)
                })
            }, schemaChanges: DiffJSON.SchemaChanges(tablesAdded: report.schema.tablesAdded, tablesRemoved: report.schema.tablesRemoved,
                                                     columnsAdded: report.schema.columnsAdded, columnsRemoved: report.schema.columnsRemoved))
        }
    }
}
