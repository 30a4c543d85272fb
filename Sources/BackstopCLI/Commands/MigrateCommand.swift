import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct MigrateCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate",
            abstract: "Apply pending migrations, after a pre-migration snapshot, in one transaction.",
            discussion: """
            Takes the database lock, evaluates guard.sql, checks for drift and prints the plan; takes a
            'pre-migration' snapshot (undo the run with 'backstop rollback'); then applies every migration's
            preconditions, SQL, postconditions and history row in one transaction, with foreign keys
            unenforced during the run and PRAGMA foreign_key_check required empty before commit. If
            anything fails, nothing of the run is applied.

            --dry-run rehearses the run on a private copy (the live database is untouched) and adds row
            counts per table before and after.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Option(help: ArgumentHelp("Apply migrations up to and including this version. Default: all pending.", valueName: "version"))
        var to: Int64?

        @Flag(help: "Rehearse on a private copy of the database; change nothing.")
        var dryRun = false

        @Flag(help: "Do not take a pre-migration snapshot. You give up the way back if the result is wrong.")
        var noSnapshot = false

        @Option(help: ArgumentHelp("Compression level of the pre-migration snapshot, 1 to 12. Default: \(Snapshotter.defaultLevel).", valueName: "n"))
        var level: Int = Snapshotter.defaultLevel

        @Flag(help: "Run even though an applied migration's file changed since.")
        var allowChanged = false
        @Flag(help: "Run even though an applied migration's file is gone.")
        var allowMissing = false
        @Flag(help: "Run even though two files share a version (both are applied, in name order).")
        var allowDuplicateVersions = false
        @Flag(help: "Apply pending migrations older than the newest applied one.")
        var allowOutOfOrder = false

        func validate() throws {
            guard (1...12).contains(level) else { throw ValidationError("'--level' must be between 1 and 12") }
            if dryRun && noSnapshot { throw ValidationError("'--no-snapshot' has no meaning with '--dry-run' (a rehearsal changes nothing)") }
        }

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
            var options = Migrator.Options()
            options.target = to
            options.dryRun = dryRun
            options.snapshot = !noSnapshot
            options.ignoreGuard = guardOptions.ignoreGuard
            options.lockWait = lock.lockWait
            options.level = level
            if allowChanged { options.allowed.insert(.changed) }
            if allowMissing { options.allowed.insert(.missing) }
            if allowDuplicateVersions { options.allowed.insert(.duplicateVersion) }
            if allowOutOfOrder { options.allowed.insert(.outOfOrder) }
            options.confirm = { plan in
                output.say(MigrationOutput.planText(plan))
                if dryRun { return }
                if noSnapshot {
                    output.warn("--no-snapshot: no pre-migration snapshot will be taken. If this run leaves the data wrong, 'backstop rollback' cannot undo it; only an older snapshot or down migrations can.")
                }
                try confirmation.confirm("", question: "Apply \(plan.migrations.count) migration(s) to \(plan.database)?",
                                         action: "applying migrations", output: output)
            }
            let bar = output.progress("migrate")
            options.snapshotProgress = bar?.handler
            options.events = { event in
                guard !output.quiet, Output.stderrIsTerminal, !Output.noColor else { return }
                switch event {
                case .snapshotting: break
                case .applying(let file, let index, let count):
                    bar?.finish()
                    FileHandle.standardError.write(Data("\r\(dryRun ? "rehearsing" : "applying") \(file.displayName) (\(index + 1)/\(count))\u{1B}[K".utf8))
                case .applied: break
                case .checkingForeignKeys:
                    FileHandle.standardError.write(Data("\rchecking foreign keys\u{1B}[K".utf8))
                }
            }
            let report: MigrationReport
            do {
                report = try migrator.migrate(options)
            } catch {
                if Output.stderrIsTerminal && !output.quiet { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
                throw error
            }
            if Output.stderrIsTerminal && !output.quiet { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            bar?.finish()
            if output.json { output.emitJSON(MigrationOutput.reportJSON(report)); return }
            if report.plan.migrations.isEmpty {
                output.say("Nothing to migrate: the database is at version \(MigrationOutput.version(report.plan.fromVersion)).")
                return
            }
            if report.dryRun {
                output.say("\nRehearsal on a private copy (the live database was not touched): every check passed.")
                output.say(MigrationOutput.stepsTable(report.steps))
                output.say("\nRows per table, before and after:")
                output.say(MigrationOutput.countsTable(report.tableCounts))
                return
            }
            if let snapshot = report.snapshot {
                output.say("Pre-migration snapshot \(snapshot.id) taken; undo this run with: backstop rollback")
            }
            output.say(MigrationOutput.stepsTable(report.steps))
            output.say("The database is now at version \(MigrationOutput.version(report.plan.toVersion)) (\(report.durationMs) ms).")
        }
    }
}
