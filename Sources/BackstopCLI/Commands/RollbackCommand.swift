import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RollbackCommand: BackstopCommand, Confirming {
        static let configuration = CommandConfiguration(
            commandName: "rollback",
            abstract: "Undo migration runs by restoring a pre-migration snapshot (the primary rollback path).",
            discussion: reflow("""
            Without --to, restores the pre-migration snapshot of the last run, by the history's own order
            (never by clock). With --to VERSION, the most recent pre-migration snapshot taken when the database
            was at VERSION (if a run applied several versions at once, only the version it started from has
            one: the error names it). Everything written since that snapshot is lost; a 'pre-restore' snapshot
            is taken first, as every restore does.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Option(help: ArgumentHelp("Go back to the state at this version. Default: undo the last run.", valueName: "version"))
        var to: Int64?

        @Option(help: ArgumentHelp("Compression level of the pre-restore snapshot, 1 to 12.", valueName: "n"))
        var level: Int = 1

        func validate() throws { try LevelValidation.check(level) }

        func run(_ session: Session) throws {
            let output = session.output
            session.ignoringGuard(guardOptions.ignoreGuard)
            let resolved = try target.resolve(session, migrations: migrations.dir)
            try Database.checkIsSQLiteFile(resolved.database)
            guard FileSystem.isDirectory(resolved.store) else { throw BackstopError.snapshotNotFound("there is no snapshot store at \(resolved.store)") }
            let store = try session.openStore(resolved, create: false)
            var options = RestoreOptions()
            options.lockWait = lock.lockWait
            options.level = level
            options.migrations = resolved.migrations
            options.ignoreGuard = guardOptions.ignoreGuard
            options.notify = output.notifier
            let bar = output.progress("rollback")
            let (choice, report) = try Restorer.rollback(database: resolved.database, store: store, toVersion: to, options: options, confirm: { choice in
                let manifest = choice.manifest
                if let command = choice.undoneCommand {
                    output.note("picked the pre-migration snapshot \(manifest.id) (\(manifest.createdAt)), taken before run \(raw: String(command.run)): \(command.command)")
                } else if choice.undoneRun.isEmpty {
                    output.note("picked the newest pre-migration snapshot taken at version \(MigrationWords.version(choice.toVersion)): \(manifest.id) (\(manifest.createdAt))")
                } else {
                    output.note("picked the pre-migration snapshot \(manifest.id) (\(manifest.createdAt)), taken before the run that applied \(choice.undoneRun.map(String.init).joined(separator: ", "))")
                }
                let age = DurationText.format(Date().timeIntervalSince(manifest.createdDate))
                try confirmation.confirm("""
                    This restores \(resolved.database) to snapshot \(manifest.id), taken \(manifest.createdAt) (\(raw: age) ago),
                    at \(raw: RollbackCommand.versionWords(manifest)). Everything written since then is lost.
                    A 'pre-restore' snapshot of the current state is taken first, so this can be undone.
                    """, question: "Roll back?", action: "a rollback replaces the live database's contents and", output: output)
            }, progress: bar?.handler)
            bar?.finish()
            RestoreCommand.emit(report, selected: nil, session: session, undoneRun: choice.undoneRun)
        }

        /// "version 27", "version 0027 of drizzle", "version 27 (alembic 3f2a1b)".
        static func versionWords(_ manifest: Manifest) -> String {
            let own = manifest.schemaVersion.map { "version \($0)" }
            let app = manifest.appMigrations.map { "version \($0.version ?? "(nothing applied)") of \($0.tool)" }
            switch (own, app) {
            case let (own?, app?): return "\(own) (\(app))"
            case let (own?, nil): return own
            case let (nil, app?): return app
            case (nil, nil): return "no recorded migration version"
            }
        }
    }
}
