import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RollbackCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Undo migration runs by restoring a pre-migration snapshot (the primary rollback path).",
            discussion: """
            Without --to, restores the pre-migration snapshot of the last run. With --to VERSION, the newest
            pre-migration snapshot taken when the database was at VERSION. Everything written since that
            snapshot is lost; a 'pre-restore' snapshot is taken first, as every restore does.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Option(help: ArgumentHelp("Go back to the state at this version. Default: undo the last run.", valueName: "version"))
        var to: Int64?

        @Option(help: ArgumentHelp("Compression level of the pre-restore snapshot, 1 to 12. Default: 1.", valueName: "n"))
        var level: Int = 1

        func validate() throws {
            guard (1...12).contains(level) else { throw ValidationError("'--level' must be between 1 and 12") }
        }

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(migrations: migrations.dir)
            try Database.checkIsSQLiteFile(resolved.database)
            let existing = FileSystem.isDirectory(resolved.store) ? try target.openStore(resolved, create: false) : nil
            let (manifest, explanation) = try Rollback.select(database: resolved.database, store: existing, toVersion: to)
            guard let store = existing else { throw BackstopError.snapshotNotFound("there is no snapshot store at \(resolved.store)") }
            output.note("picked \(explanation)")
            let age = DurationText.format(Date().timeIntervalSince(manifest.createdDate))
            try confirmation.confirm("""
                This restores \(resolved.database) to snapshot \(manifest.id), taken \(manifest.createdAt) (\(age) ago),
                at version \(MigrationOutput.version(manifest.schemaVersion)). Everything written since then is lost.
                A 'pre-restore' snapshot of the current state is taken first, so this can be undone.
                """, question: "Roll back?", action: "a rollback replaces the live database's contents and", output: output)
            try RestoreCommand.restoreLive(manifest, resolved: resolved, store: store, lockWait: lock.lockWait,
                                           ignoreGuard: guardOptions.ignoreGuard, level: level, output: output)
        }
    }

    struct DownCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "down",
            abstract: "Run down sections back to VERSION in one transaction (the secondary rollback path).",
            discussion: """
            Runs the '-- backstop:down' sections of every applied migration above VERSION, newest first, in
            one transaction after a 'pre-down' snapshot. Refuses if any of them lacks a down section.
            'backstop rollback' (restore) is the primary way back.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Option(help: ArgumentHelp("The version to go down to.", valueName: "version"))
        var to: Int64

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
            var options = Migrator.Options()
            options.ignoreGuard = guardOptions.ignoreGuard
            options.lockWait = lock.lockWait
            options.confirm = { plan in
                output.say(MigrationOutput.planText(plan, verb: "undo"))
                try confirmation.confirm("", question: "Run \(plan.migrations.count) down section(s)?", action: "running down migrations", output: output)
            }
            let report = try migrator.down(to: to, options: options)
            if output.json { output.emitJSON(MigrationOutput.reportJSON(report)); return }
            if report.steps.isEmpty { output.say("Nothing to undo: the database is at or below version \(to)."); return }
            if let snapshot = report.snapshot { output.say("Pre-down snapshot \(snapshot.id) taken.") }
            output.say(MigrationOutput.stepsTable(report.steps))
            output.say("The database is now at version \(to).")
        }
    }
}
