import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct MigrateCommand: BackstopCommand, Confirming {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Apply pending migrations, after a pre-migration snapshot, in one transaction.",
            discussion: reflow("""
            Takes the database lock, evaluates guard.sql, checks for drift and prints the plan; takes a
            'pre-migration' snapshot (undo the run with 'backstop rollback'); then applies every migration's
            preconditions, SQL, postconditions and history row in one transaction, with foreign keys
            unenforced during the run and PRAGMA foreign_key_check required empty before commit. If
            anything fails, nothing of the run is applied. An application holding a write transaction makes
            migrate wait (--lock-wait) and then exit 5, with nothing changed.

            --dry-run rehearses the run on a private copy (the live database is untouched) and adds row
            counts per table before and after.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Option(help: ArgumentHelp("Apply migrations up to and including this version (as the folder writes it). Default: all pending.", valueName: "version"))
        var to: String?

        @Flag(help: "Create the database (empty) if it does not exist, then migrate it.")
        var create = false

        @Option(name: .customLong("load-extension"), help: ArgumentHelp("An SQLite extension to load before migrating (for SQL functions the app registers). Repeatable.", valueName: "path"))
        var extensions: [String] = []

        @Flag(help: "Rehearse on a private copy of the database; change nothing.")
        var dryRun = false

        @Flag(help: "Do not take a pre-migration snapshot. You give up the way back if the result is wrong.")
        var noSnapshot = false

        @Option(help: ArgumentHelp("Compression level of the pre-migration snapshot, 1 to 12.", valueName: "n"))
        var level: Int = Snapshotter.defaultLevel

        @Flag(help: "Run even though an applied migration's file changed since (or accept the edit with 'backstop repair').")
        var allowChanged = false
        @Flag(help: "Run even though an applied migration's file is gone.")
        var allowMissing = false
        @Flag(help: "Run even though two files share a version (both are applied, in name order).")
        var allowDuplicateVersions = false
        @Flag(help: "Apply pending migrations older than the newest applied one.")
        var allowOutOfOrder = false

        func validate() throws {
            try LevelValidation.check(level)
            if dryRun && noSnapshot { throw ValidationError("'--no-snapshot' has no meaning with '--dry-run' (a rehearsal changes nothing)") }
        }

        func run(_ session: Session) throws {
            let output = session.output
            session.ignoringGuard(guardOptions.ignoreGuard)
            let resolved = try target.resolve(session, migrations: migrations.dir)
            if create && !FileSystem.exists(resolved.database) {
                guard !dryRun else { throw BackstopError.invalidInput("--create with --dry-run: there is no database to rehearse on") }
                try Migrator.createDatabase(resolved.database)
                output.note("Created the empty database \(resolved.database).")
            }
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store, layout: migrations.format, keys: try session.keys(resolved))
            var options = Migrator.Options()
            if let to {
                guard let version = migrator.directory.version(named: to) else {
                    throw BackstopError.invalidInput("there is no migration \(to) in \(migrator.directory.path)")
                }
                options.target = version
            }
            options.extensions = extensions.map { FileSystem.absolute($0) }
            options.dryRun = dryRun
            options.snapshot = !noSnapshot
            options.ignoreGuard = guardOptions.ignoreGuard
            options.lockWait = lock.lockWait
            options.level = level
            options.notify = output.notifier
            if allowChanged { options.allowed.insert(.changed) }
            if allowMissing { options.allowed.insert(.missing) }
            if allowDuplicateVersions { options.allowed.insert(.duplicateVersion) }
            if allowOutOfOrder { options.allowed.insert(.outOfOrder) }
            options.confirm = { plan in
                output.say(MigrationWords.plan(plan))
                for note in (plan.migrations + plan.repeatables).flatMap(\.notes) { output.note("note: \(note)") }
                if plan.preexistingViolations > 0 {
                    let one = plan.preexistingViolations == 1
                    output.warn("\(raw: String(plan.preexistingViolations)) row\(raw: one ? "" : "s") already point\(raw: one ? "s" : "") at nothing before this run (see 'backstop check --postconditions'); \(raw: one ? "it is" : "they are") not the run's doing and \(raw: one ? "does" : "do") not stop it")
                }
                if dryRun { return }
                if noSnapshot {
                    output.warn("--no-snapshot: no pre-migration snapshot will be taken. If this run leaves the data wrong, 'backstop rollback' cannot undo it; only an older snapshot or down migrations can.")
                }
                try confirmation.confirm("", question: "Apply \(plan.migrations.count) migration(s) to \(plan.database)?",
                                         action: "applying migrations", output: output)
            }
            let bar = output.progress("migrate")
            options.snapshotProgress = bar?.handler
            let showsEvents = !output.quiet && !output.json && Output.stderrIsTerminal && !Output.noColor && !Output.dumbTerminal
            options.events = { event in
                guard showsEvents else { return }
                switch event {
                case .snapshotting, .applied: break
                case .applying(let file, let index, let count):
                    bar?.finish()
                    FileHandle.standardError.write(Data(Line("\r\(raw: dryRun ? "rehearsing" : "applying") \(file.displayName) (\(raw: String(index + 1))/\(raw: String(count)))\u{1B}[K").text.utf8))
                case .checkingForeignKeys:
                    FileHandle.standardError.write(Data("\rchecking foreign keys\u{1B}[K".utf8))
                }
            }
            defer {
                bar?.finish()
                if showsEvents { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            }
            let report = try migrator.migrate(options)
            if output.json { output.emit(MigrateJSON(command: "migrate", report)); return }
            if report.plan.migrations.isEmpty {
                output.say("Nothing to migrate: the database is at version \(MigrationWords.version(report.plan.fromVersion, report.plan.versionNames)).")
                return
            }
            if report.dryRun {
                output.say("\nRehearsal on a private copy (the live database was not touched): every check passed.")
                output.say(MigrationWords.steps(report.steps))
                output.say("\nRows per table, before and after:")
                output.say(MigrationWords.counts(report.tableCounts))
                return
            }
            if let snapshot = report.snapshot {
                output.say("Pre-migration snapshot \(snapshot.id) taken; undo this run with: \(raw: session.context.command("rollback", migrations: true, changes: true))")
            }
            output.say(MigrationWords.steps(report.steps))
            output.say("The database is now at version \(MigrationWords.version(report.plan.toVersion, report.plan.versionNames)) (\(raw: String(report.durationMs)) ms).")
        }
    }
}
