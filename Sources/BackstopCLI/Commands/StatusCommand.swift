import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct StatusCommand: BackstopCommand {
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
        @OptionGroup var allOptions: AllOptions

        func run(_ session: Session) throws {
            if allOptions.all {
                try forEachDatabase(try target.resolveAll(migrations: migrations.dir), session) { target, one in try status(target, one) }
            } else {
                try status(try target.resolve(session, migrations: migrations.dir), session)
            }
        }

        func status(_ resolved: Target, _ session: Session) throws {
            let output = session.output
            let database = FileSystem.absolute(resolved.database)
            try Database.checkIsSQLiteFile(database)
            // Without a migrations folder (an application with its own migrator), the status says what the
            // database records; a folder that was asked for must exist.
            let folder = FileSystem.isDirectory(resolved.migrations) || resolved.migrationsConfigured ? resolved.migrations : nil
            let status = try folder.map { try Migrator(database: database, migrations: $0, store: resolved.store).status() }
                ?? Migrator.statusWithoutFolder(database: database)
            let reader = try Database.openForReading(database)
            let app = try AppMigrators.detect(reader)
            let runs = try RunHistory.read(reader)
            if output.json {
                var object = StatusJSON(command: "status", status: status, database: database, directory: folder)
                object.appMigrations = app.map(AppMigrationJSON.init)
                output.emit(object)
                return
            }
            output.say("Database:        \(database)")
            output.say("Migrations:      \(folder ?? "none (no folder at \(resolved.migrations); give --dir if it is elsewhere)")")
            output.say("Current version: \(MigrationWords.version(status.currentVersion))")
            let applied = status.applied.map { "\($0.version)" + ($0.kind == .baseline ? " baseline" : "") }.joined(separator: ", ")
            output.say("Applied:         \(raw: String(status.applied.count))" + (status.applied.isEmpty ? "" : " (\(applied))"))
            if folder != nil {
                output.say("Pending:         \(raw: String(status.pending.count))")
                for file in status.pending { output.say("  \(file.displayName)") }
            }
            if let app {
                output.say("App migrator:    \(AppWords.state(app))")
            }
            if let last = runs.last {
                output.say("Protected runs:  \(raw: String(runs.count)), the last: run \(raw: String(last.run)), \(last.command) (\(last.startedAt))")
            }
            output.say(MigrationWords.problems(status.problems, app: app))
            if folder != nil, status.applied.isEmpty, let first = status.pending.first, first.version > 1 {
                output.note("hint: if other tools already brought this database to version \(String(first.version - 1)), adopt it with '\(raw: session.context.command("baseline", [String(first.version - 1)], store: false, migrations: true))'")
            }
        }
    }
}
