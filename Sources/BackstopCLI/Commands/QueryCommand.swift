import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct QueryCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "query",
            abstract: "Run a read-only SQL query on a snapshot, without restoring it.",
            discussion: reflow("""
              backstop query SNAPSHOT "SQL"   by id (or a unique prefix)
              backstop query --latest "SQL"   or --at TIME, --before-migration N

            The snapshot is read in place (nothing is decompressed to disk). Output: a table (at most --limit
            rows), --csv (RFC 4180, every row), or --json (one document, every row). Statements that would
            change anything are refused: restore the snapshot to a new file to work on a copy.

            The same in the sqlite3 shell, with the extension 'make install' puts in lib/backstop:
              sqlite3 -cmd '.load /usr/local/lib/backstop/backstop_vfs' \\
                -cmd '.open file:STORE/ID.sqlite.gz?vfs=backstop' :memory:

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: ArgumentHelp("The snapshot id (unless --latest, --at or --before-migration chooses it), then the SQL.", valueName: "snapshot-and-sql"))
        var words: [String] = []

        @Flag(help: "The most recently taken snapshot (safety snapshots left out unless --kind names them).")
        var latest = false

        @Option(help: ArgumentHelp("The snapshot that was current at this time (as restore --at).", valueName: "time"))
        var at: String?

        @Option(help: ArgumentHelp("The snapshot taken just before this migration version was applied.", valueName: "version"))
        var beforeMigration: Int64?

        @Option(help: ArgumentHelp("With --latest or --at, only snapshots of this kind. Repeatable.", valueName: "kind"))
        var kind: [String] = []

        @Flag(help: "Print CSV (a header row, then every row).")
        var csv = false

        @Option(help: ArgumentHelp("In the table, at most this many rows.", valueName: "n"))
        var limit: Int = 1000

        @Option(name: .customLong("load-extension"), help: ArgumentHelp("An SQLite extension to load first (for functions the app registers). Repeatable.", valueName: "path"))
        var extensions: [String] = []

        var chosenBySelection: Bool { latest || at != nil || beforeMigration != nil }

        func validate() throws {
            let selections = [latest, at != nil, beforeMigration != nil].filter { $0 }.count
            if selections > 1 { throw ValidationError("give only one of '--latest', '--at' and '--before-migration'") }
            let expected = chosenBySelection ? 1 : 2
            if words.count != expected {
                throw ValidationError(chosenBySelection ? "give the SQL to run (one argument, quoted)" : "give a snapshot id and the SQL to run, e.g. backstop query 20261122T101500123Z \"SELECT count(*) FROM users\"")
            }
            if csv && outputOptions.json { throw ValidationError("give only one of '--csv' and '--json'") }
            if limit < 1 || limit > 1_000_000 { throw ValidationError("'--limit' must be between 1 and 1000000") }
            if !kind.isEmpty && !latest && at == nil { throw ValidationError("'--kind' only applies with '--latest' or '--at'") }
        }

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: chosenBySelection)
            let store = try session.openSource(resolved, from: source.from, options: target)
            let selection: SnapshotSelection
            if latest { selection = .latest } else if let at { selection = .at(try Timestamp.parsePointInTime(at)) }
            else if let beforeMigration { selection = .beforeMigration(beforeMigration) } else { selection = .id(words[0]) }
            let selected = try selection.resolve(in: store, database: FileSystem.absolute(resolved.database),
                                                 kinds: kind.isEmpty ? nil : Set(kind.map(SnapshotKind.init)))
            if chosenBySelection { output.note("picked \(Words.selection(selected))") }
            let sql = words.last!
            let manifest = selected.manifest
            let extensions = self.extensions.map { FileSystem.absolute($0) }
            if csv {
                try SnapshotQuery.run(sql, on: manifest, store: store, extensions: extensions, onColumns: { columns in
                    print(columns.map(QueryCommand.csvField).joined(separator: ","))
                }, onRow: { row in
                    print(row.map { QueryCommand.csvField(QueryCommand.text($0)) }.joined(separator: ","))
                    return true
                })
                return
            }
            if output.json {
                // Streamed: rows are written as they come, so memory does not grow with the result.
                let encoder = JSONEncoder()
                var first = true
                try SnapshotQuery.run(sql, on: manifest, store: store, extensions: extensions, onColumns: { columns in
                    let head = String(decoding: try encoder.encode(columns), as: UTF8.self)
                    FileHandle.standardOutput.write(Data("{\"schema\":\"\(JSONOutput.schema("query"))\",\"snapshot\":\(String(decoding: try encoder.encode(manifest.id), as: UTF8.self)),\"columns\":\(head),\"rows\":[".utf8))
                }, onRow: { row in
                    let line = String(decoding: try encoder.encode(row.map(JSONValue.init)), as: UTF8.self)
                    FileHandle.standardOutput.write(Data(((first ? "" : ",") + "\n" + line).utf8))
                    first = false
                    return true
                })
                FileHandle.standardOutput.write(Data("\n]}\n".utf8))
                return
            }
            var columns: [String] = []
            var rows: [[String]] = []
            var more = false
            try SnapshotQuery.run(sql, on: manifest, store: store, extensions: extensions, onColumns: { columns = $0 }, onRow: { row in
                if rows.count == limit { more = true; return false }
                rows.append(row.map(QueryCommand.text))
                return true
            })
            var table = TextTable(headers: columns)
            for row in rows { table.append(row) }
            output.say(table.render())
            output.note("\(raw: String(rows.count)) row\(raw: rows.count == 1 ? "" : "s")\(raw: more ? " shown; there are more (raise --limit, or use --csv or --json)" : "") from snapshot \(manifest.id) (\(manifest.createdAt))")
        }

        /// A value as text: NULL as an empty field in CSV and as "NULL" in the table; BLOBs as hex.
        static func text(_ value: SQLiteValue) -> String {
            switch value {
            case .null: return "NULL"
            case .integer(let n): return String(n)
            case .real(let x): return String(x)
            case .text(let s): return s
            case .blob(let b): return "x'" + b.map { String(format: "%02x", $0) }.joined() + "'"
            }
        }

        /// A CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break.
        static func csvField(_ text: String) -> String {
            guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
            return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
    }
}
