import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct StatusCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show the database's version, applied and pending migrations, and problems.",
            discussion: """
            Problems: an applied migration whose file changed, an applied migration whose file is gone, two
            files with the same version, a pending migration older than the newest applied one, and files
            that cannot be used. 'migrate' refuses to run while any stands (each has an override flag).

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
            let status = try migrator.status()
            if output.json {
                output.emitJSON(MigrationOutput.statusJSON(status, database: migrator.database, directory: migrator.directory.path))
                return
            }
            output.say("Database:        \(migrator.database)")
            output.say("Migrations:      \(migrator.directory.path)")
            output.say("Current version: \(MigrationOutput.version(status.currentVersion))")
            output.say("Applied:         \(status.applied.count)" + (status.applied.isEmpty ? "" : " (\(status.applied.map { "\($0.version)" + ($0.kind == "baseline" ? " baseline" : "") }.joined(separator: ", ")))"))
            output.say("Pending:         \(status.pending.count)")
            for file in status.pending { output.say("  \(file.displayName)") }
            output.say(MigrationOutput.problemLines(status.problems))
            if status.applied.isEmpty && !status.pending.isEmpty && status.pending.first!.version > 1 {
                output.note("hint: if other tools already brought this database to version \(status.pending.first!.version - 1), adopt it with 'backstop baseline \(status.pending.first!.version - 1)'")
            }
        }
    }

    struct CheckCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check migrations for CI: exit non-zero on any problem.",
            discussion: """
            With only --dir, checks the folder itself (names, duplicate versions, markers, statements that
            cannot run in a transaction) and needs no database. With a database, also checks drift; with
            --postconditions, also runs the verify sections of the applied migrations against the live
            database (read-only) and PRAGMA foreign_key_check, e.g. after a row-level recovery.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions

        @Flag(help: "Also run the applied migrations' verify sections and PRAGMA foreign_key_check against the database.")
        var postconditions = false

        @Option(help: ArgumentHelp("With --postconditions, only migrations from this version on. Default: all applied.", valueName: "version"))
        var from: Int64?

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: postconditions, requireStore: false, migrations: migrations.dir)
            let directory = try MigrationDirectory.load(path: resolved.migrations)
            var status = MigrationStatus(currentVersion: nil, applied: [], pending: directory.files, problems: directory.problems)
            var database: String?
            var failures: [PostconditionFailure] = []
            if !resolved.database.isEmpty {
                let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
                status = try migrator.status()
                database = migrator.database
                if postconditions { failures = try migrator.checkPostconditions(fromVersion: from) }
            }
            let ok = status.problems.isEmpty && failures.isEmpty
            if output.json {
                var object = MigrationOutput.statusJSON(status, database: database, directory: directory.path)
                object["ok"] = ok
                if postconditions {
                    object["postcondition_failures"] = failures.map {
                        ["migration": $0.migration ?? NSNull(), "line": $0.statement.line, "statement": $0.statement.sql, "rows": $0.rows.jsonObject] as [String: Any]
                    }
                }
                output.emitJSON(object)
            } else {
                output.say("\(directory.files.count) migration file\(directory.files.count == 1 ? "" : "s") in \(directory.path)" + (database.map { ", database \($0) at version \(MigrationOutput.version(status.currentVersion))" } ?? ""))
                output.say(MigrationOutput.problemLines(status.problems))
                if postconditions {
                    if failures.isEmpty {
                        output.say("Postconditions: every verify query of the applied migrations\(from.map { " from \($0)" } ?? "") returns no rows; PRAGMA foreign_key_check is empty.")
                    } else {
                        print("Postconditions that fail now:")
                        for failure in failures {
                            let place = failure.migration.map { "\($0) line \(failure.statement.line)" } ?? "PRAGMA foreign_key_check"
                            print("  \(place): \(oneLine(failure.statement.sql))\n" + failure.rows.describe())
                        }
                    }
                }
            }
            if !ok { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }

    struct HistoryCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "history",
            abstract: "List applied migrations, with the snapshot that undoes each run.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve()
            let history = try MigrationHistory.read(try Database(path: resolved.database, mode: .readOnly))
            if output.json { output.emitJSON(history.map(\.jsonObject)); return }
            if history.isEmpty { output.say("No migrations applied to \(resolved.database)."); return }
            var table = TextTable(headers: ["VERSION", "NAME", "APPLIED (UTC)", "DURATION", "ROWS", "UNDO WITH"])
            for entry in history {
                let undo = entry.kind == "baseline" ? "(baseline)" : entry.snapshotID.map { "backstop restore \($0)" } ?? "(no snapshot)"
                table.rows.append([String(entry.version), entry.name, String(entry.appliedAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                                   "\(entry.durationMs) ms", String(entry.rowsChanged), undo])
            }
            output.say(table.render())
        }
    }
}
