import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct StatusCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "status",
            abstract: "Show the database's version, applied and pending migrations, and problems.",
            discussion: reflow("""
            Problems: an applied migration whose file changed, an applied migration whose file is gone, two
            files with the same version, a pending migration older than the newest applied one, and files
            that cannot be used. 'migrate' refuses to run while any stands (each has an override flag).

            \(ExitStatus.helpTable)
            """))

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
            let migrator = try folder.map { try Migrator(database: database, migrations: $0, store: resolved.store, layout: migrations.format, keys: try session.keys(resolved)) }
            let status = try migrator?.status() ?? Migrator.statusWithoutFolder(database: database)
            let layout = migrator?.directory.layout
            let reader = try Database.openForReading(database)
            let app = try AppMigrators.detect(reader)
            let runs = try RunHistory.read(reader)
            if output.json {
                var object = StatusJSON(command: "status", status: status, database: database, directory: folder)
                object.appMigrations = app.map(AppMigrationJSON.init)
                object.layout = layout?.rawValue
                object.appliedByToolOnly = status.appliedByToolOnly.map(MigrationFileJSON.init)
                output.emit(object)
                return
            }
            output.say("Database:        \(database)")
            if let folder, let layout {
                let kept = layout.historyTable.map { "; \($0) kept in step" } ?? ""
                output.say("Migrations:      \(folder) (\(raw: layout.rawValue) layout\(raw: kept))")
            } else {
                output.say("Migrations:      none (no folder at \(resolved.migrations); give --dir if it is elsewhere)")
            }
            let names = Dictionary((migrator?.directory.files ?? []).map { ($0.version, $0.shownVersion) }, uniquingKeysWith: { a, _ in a })
            output.say("Current version: \(MigrationWords.version(status.currentVersion, layout == .backstop ? [:] : names))")
            let shownNames = layout == .backstop ? [:] : names
            let applied = status.applied.map { MigrationWords.version($0.version, shownNames) + ($0.kind == .baseline ? " baseline" : "") }.joined(separator: ", ")
            output.say("Applied:         \(raw: String(status.applied.count))" + (status.applied.isEmpty ? "" : " (\(applied))"))
            if folder != nil {
                output.say("Pending:         \(raw: String(status.pending.count))")
                for file in status.pending { output.say("  \(file.displayName)") }
            }
            if !status.appliedByToolOnly.isEmpty, let layout {
                output.say("Applied by \(raw: layout.rawValue) only: \(raw: String(status.appliedByToolOnly.count)) (\(status.appliedByToolOnly.map(\.displayName).joined(separator: ", ")))")
                output.note("hint: record them in Backstop's history with '\(raw: session.context.command("baseline", store: false, migrations: true))'")
            }
            if let app {
                output.say("App migrator:    \(AppWords.state(app))")
            }
            for note in (migrator?.directory.files ?? []).filter({ file in status.pending.contains { $0.path == file.path } }).flatMap(\.notes) {
                output.note("note: \(note)")
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
