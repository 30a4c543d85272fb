import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct CheckCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Check migrations for CI: exit non-zero on any problem.",
            discussion: reflow("""
            With only --dir, checks the folder itself (names, duplicate versions, markers, statements that
            cannot run in a transaction) and needs no database. With a database, also checks drift; with
            --postconditions, also runs the verify sections of the applied migrations against the live
            database (read-only) and PRAGMA foreign_key_check, e.g. after a row-level recovery.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions

        @Flag(help: "Also run the applied migrations' verify sections and PRAGMA foreign_key_check against the database.")
        var postconditions = false

        @Option(help: ArgumentHelp("With --postconditions, only migrations from this version on. Default: all applied.", valueName: "version"))
        var from: Int64?

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: postconditions, requireStore: false, migrations: migrations.dir)
            // Without a migrations folder, a database that another migrator manages is checked for that
            // migrator's failures; with neither, there is nothing to check, and that is not "ok".
            let hasFolder = FileSystem.isDirectory(resolved.migrations) || resolved.migrationsConfigured || resolved.database.isEmpty
            let directory = hasFolder ? try MigrationDirectory.load(path: resolved.migrations, layout: migrations.format) : nil
            var status = MigrationStatus(currentVersion: nil, applied: [], pending: directory?.files ?? [], problems: directory?.problems ?? [])
            var database: String?
            var app: AppMigrationState?
            var failures: [PostconditionFailure] = []
            if !resolved.database.isEmpty {
                database = FileSystem.absolute(resolved.database)
                try Database.checkIsSQLiteFile(database!)
                app = try AppMigrators.detect(try Database.openForReading(database!))
                if directory != nil {
                    let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store, layout: migrations.format, keys: try session.keys(resolved))
                    status = try migrator.status()
                    if postconditions { failures = try migrator.checkPostconditions(fromVersion: from) }
                } else {
                    status = try Migrator.statusWithoutFolder(database: database!)
                    if app == nil && status.applied.isEmpty {
                        throw BackstopError.invalidInput("nothing to check: there is no migrations folder at \(resolved.migrations), and \(database!) has no migration history (Backstop's or a known migrator's)",
                                                         remedy: .chooseMigrationsFolder)
                    }
                }
            }
            let ok = status.problems.isEmpty && failures.isEmpty && app?.dirty != true
            if output.json {
                var object = StatusJSON(command: "check", status: status, database: database, directory: directory?.path)
                object.appMigrations = app.map(AppMigrationJSON.init)
                object.ok = ok
                if postconditions {
                    object.postconditionFailures = failures.map {
                        .init(migration: $0.migration, line: $0.statement.line, statement: $0.statement.sql, rows: RowsJSON($0.rows))
                    }
                }
                output.emit(object)
            } else {
                let files = directory.map { directory -> Line in
                    let unusable = Set(directory.problems.filter { $0.kind == .invalid }.compactMap(\.file)).count
                    let total = directory.files.count + unusable
                    return Line("\(raw: String(total)) migration file\(raw: total == 1 ? "" : "s") in \(directory.path)\(raw: unusable > 0 ? " (\(unusable) cannot be used)" : "")")
                } ?? Line("no migrations folder")
                output.say(files + (database.map { Line(", database \($0) at version \(MigrationWords.version(status.currentVersion))") } ?? ""))
                if let app { output.say("App migrator: \(AppWords.state(app))") }
                output.say(MigrationWords.problems(status.problems, app: app))
                if postconditions {
                    if failures.isEmpty {
                        output.say("Postconditions: every verify query of the applied migrations\(raw: from.map { " from \($0)" } ?? "") returns no rows; PRAGMA foreign_key_check is empty.")
                    } else {
                        print("Postconditions that fail now:")
                        for failure in failures {
                            let place = failure.migration.map { "\($0) line \(failure.statement.line)" } ?? "PRAGMA foreign_key_check"
                            print(Line("  \(place): \(oneLine(failure.statement.sql))\n\(lines: failure.rows.describe())").text)
                        }
                    }
                }
            }
            if !ok { throw ExitCode(ExitStatus.checkFailed.rawValue) }
        }
    }
}
