import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct DownCommand: BackstopCommand, Confirming {
        static let configuration = CommandConfiguration(
            commandName: "down",
            abstract: "Run down sections back to VERSION in one transaction (the secondary rollback path).",
            discussion: reflow("""
            Runs the '-- backstop:down' sections of every applied migration above VERSION, newest first, in
            one transaction after a 'pre-down' snapshot. Refuses if any of them has no down SQL (a section of
            only comments undoes nothing). 'backstop rollback' (restore) is the primary way back.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Option(help: ArgumentHelp("The version to go down to (as the folder writes it: 28, 20260115093000, 1.1; 0 for none).", valueName: "version"))
        var to: String

        func run(_ session: Session) throws {
            let output = session.output
            session.ignoringGuard(guardOptions.ignoreGuard)
            let resolved = try target.resolve(session, migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store, layout: migrations.format, keys: try session.keys(resolved))
            var options = Migrator.Options()
            options.ignoreGuard = guardOptions.ignoreGuard
            options.lockWait = lock.lockWait
            options.notify = output.notifier
            options.confirm = { plan in
                output.say(MigrationWords.plan(plan, verb: "undo"))
                try confirmation.confirm("", question: "Run \(plan.migrations.count) down section(s)?", action: "running down migrations", output: output)
            }
            guard let version = to == "0" ? 0 : migrator.directory.version(named: to) else {
                throw BackstopError.invalidInput("there is no migration \(to) in \(migrator.directory.path)")
            }
            let report = try migrator.down(to: version, options: options)
            if output.json { output.emit(MigrateJSON(command: "down", report)); return }
            if report.steps.isEmpty { output.say("Nothing to undo: the database is at or below version \(to)."); return }
            if let snapshot = report.snapshot { output.say("Pre-down snapshot \(snapshot.id) taken.") }
            output.say(MigrationWords.steps(report.steps))
            output.say("The database is now at version \(to).")
        }
    }
}
