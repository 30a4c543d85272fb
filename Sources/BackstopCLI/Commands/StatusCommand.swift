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
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
            let status = try migrator.status()
            if output.json {
                output.emit(StatusJSON(command: "status", status: status, database: migrator.database, directory: migrator.directory.path))
                return
            }
            output.say("Database:        \(migrator.database)")
            output.say("Migrations:      \(migrator.directory.path)")
            output.say("Current version: \(MigrationWords.version(status.currentVersion))")
            let applied = status.applied.map { "\($0.version)" + ($0.kind == .baseline ? " baseline" : "") }.joined(separator: ", ")
            output.say("Applied:         \(raw: String(status.applied.count))" + (status.applied.isEmpty ? "" : " (\(applied))"))
            output.say("Pending:         \(raw: String(status.pending.count))")
            for file in status.pending { output.say("  \(file.displayName)") }
            output.say(MigrationWords.problems(status.problems))
            if status.applied.isEmpty, let first = status.pending.first, first.version > 1 {
                output.note("hint: if other tools already brought this database to version \(String(first.version - 1)), adopt it with '\(raw: session.context.command("baseline", [String(first.version - 1)], store: false, migrations: true))'")
            }
        }
    }
}
