import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RunCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "run",
            abstract: "Run the application's own migrator (Alembic, Django, drizzle, Flyway ...) under Backstop's protection.",
            discussion: reflow("""
            backstop run [options] -- COMMAND [ARGS...]

            Takes the database lock and evaluates the guard (guard.sql in the migrations folder, or --guard);
            reads the migrator's version; takes a 'pre-migration' snapshot that records the command; runs
            the command with the terminal (its output is captured with --json), with BACKSTOP_DB and
            BACKSTOP_SNAPSHOT_ID in its environment and {db} in its arguments replaced by the database's
            path. Then checks: the command's exit status, PRAGMA quick_check (integrity_check with --deep),
            foreign keys (only violations the run added count), the --verify queries (each must return no
            rows), and the migrator's version, which must have moved (or stayed, with --allow-no-change) and
            not be marked failed or dirty.

            If anything fails, the database is restored to the snapshot, exactly as it was before the run
            (the failed state is kept as a 'pre-restore' snapshot for inspection), and the exit status is 8.
            --no-restore keeps the failed state and prints the command that restores it. A successful run is
            recorded in the history; 'backstop rollback' undoes it.

            --dry-run runs the command against a private copy instead (its path in BACKSTOP_DB and {db}; the
            command must take the database from there) and shows what would change.

            Stop the application's other writers first (that is what the guard is for): what they write
            between the snapshot and a failure is lost when the database is restored. Processes that had the
            database open during the run are named before a restore.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions

        @Option(name: .customLong("guard"), help: ArgumentHelp("Guard queries (each must return no rows before the run). Default: guard.sql in the migrations folder, if there is one.", valueName: "file"))
        var guardFile: String?

        @Option(name: .customLong("verify"), help: ArgumentHelp("Queries that must return no rows after the run. Repeatable.", valueName: "file"))
        var verifyFiles: [String] = []

        @Flag(help: "Check the database with PRAGMA integrity_check afterwards (default: quick_check).")
        var deep = false

        @Flag(help: "Accept a run after which the migrator's version has not moved.")
        var allowNoChange = false

        @Flag(help: "Keep the failed state when the run fails (print the command that restores it).")
        var noRestore = false

        @Flag(help: "Run the command against a private copy of the database; change nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Stop the command after this long (SIGTERM, then SIGKILL 10s later), e.g. 30m; a failure.", valueName: "duration"))
        var timeout: String?

        @Option(help: ArgumentHelp("Compression level of the pre-migration snapshot, 1 to 12.", valueName: "n"))
        var level: Int = Snapshotter.defaultLevel

        @Argument(parsing: .postTerminator, help: ArgumentHelp("The command to run, after --.", valueName: "command"))
        var command: [String] = []

        func validate() throws {
            guard !command.isEmpty else { throw ValidationError("give the command to run after --, e.g. backstop run -- alembic upgrade head") }
            try LevelValidation.check(level)
            if let timeout {
                do { _ = try DurationText.parse(timeout) } catch { throw ValidationError("'--timeout': \(error)") }
            }
            if dryRun && noRestore { throw ValidationError("'--no-restore' has no meaning with '--dry-run' (a rehearsal changes nothing)") }
        }

        /// The command as a shell would show it.
        var commandWords: String { command.map(Words.shellQuoted).joined(separator: " ") }

        func run(_ session: Session) throws {
            let output = session.output
            session.ignoringGuard(guardOptions.ignoreGuard)
            let resolved = try target.resolve(session, migrations: migrations.dir)
            try Database.checkIsSQLiteFile(resolved.database)
            let store = try session.openStore(resolved, create: true)
            var options = ProtectedRunOptions(description: commandWords)
            options.lockWait = lock.lockWait
            options.level = level
            options.deepCheck = deep
            options.allowNoChange = allowNoChange
            options.restoreOnFailure = !noRestore
            options.notify = output.notifier
            if !guardOptions.ignoreGuard {
                if let guardFile {
                    options.guardQueries = try MigrationDirectory.readQueries(guardFile)
                    options.guardSource = (guardFile as NSString).lastPathComponent
                } else if FileSystem.isDirectory(resolved.migrations) {
                    options.guardQueries = try MigrationDirectory.guardQueries(at: resolved.migrations)
                }
            }
            options.verifyQueries = try verifyFiles.flatMap { file in
                try MigrationDirectory.readQueries(file).map { VerifyQuery(source: (file as NSString).lastPathComponent, statement: $0) }
            }
            let limit = try timeout.map { try DurationText.parse($0) }
            let bar = output.progress(dryRun ? "copy" : "snapshot")
            options.progress = bar?.handler
            let capture = output.json
            var captured: CommandOutcome?
            func body(_ context: ProtectedRunContext) throws -> CommandOutcome? {
                bar?.finish()
                if !context.rehearsal, let snapshot = context.snapshot {
                    output.note("Pre-migration snapshot \(snapshot.id) taken\(raw: snapshot.appMigrations.map { " (\(AppWords.state($0)))" } ?? "").")
                }
                output.note("Running\(raw: context.rehearsal ? " on a private copy" : ""): \(commandWords)")
                let arguments = command.map { $0.replacingOccurrences(of: "{db}", with: context.database) }
                var environment = ["BACKSTOP_DB": context.database]
                if let snapshot = context.snapshot { environment["BACKSTOP_SNAPSHOT_ID"] = snapshot.id }
                if context.rehearsal { environment["BACKSTOP_DRY_RUN"] = "1" }
                let outcome = try ChildCommand.run(arguments, environment: environment, timeout: limit, capture: capture)
                captured = outcome
                return outcome
            }
            do {
                let report = dryRun
                    ? try ProtectedRun.rehearse(database: resolved.database, store: store, options: options, body)
                    : try ProtectedRun.run(database: resolved.database, store: store, options: options, body)
                bar?.finish()
                emit(report, captured: captured, session: session)
            } catch let failed as ProtectedRunFailed {
                bar?.finish()
                emit(failed.report, captured: captured, session: session)
                throw ExitCode(ExitStatus.migrationFailed.rawValue)
            }
        }

        func emit(_ report: ProtectedRunReport, captured: CommandOutcome?, session: Session) {
            let output = session.output
            var context = session.context
            context.database = report.database
            if output.json {
                output.emit(RunJSON(report, command: command, outcome: captured,
                                    undo: report.record.map { _ in context.command("rollback", migrations: true) },
                                    restoreFailed: report.snapshot.flatMap { s in report.succeeded || report.restored != nil ? nil : context.command("restore", [s.id]) }))
                return
            }
            if report.rehearsal {
                if report.succeeded {
                    output.say("\nRehearsal on a private copy (the live database was not touched): every check passed.")
                } else {
                    output.warn("the rehearsal failed; the live database was not touched:")
                    for failure in report.failures { output.note("  \(AppWords.failure(failure, command: commandWords))") }
                }
                output.say("Migrator: \(AppWords.change(report.before, report.after))")
                if let schema = report.schema, !schema.isEmpty { output.say("Schema changes: \(AppWords.schema(schema))") }
                output.say("\nRows per table, before and after:")
                output.say(MigrationWords.counts(report.tableCounts))
                for item in report.notChecked { output.note("note: not checked: \(item)") }
                return
            }
            for item in report.notChecked { output.note("note: not checked: \(item)") }
            if report.succeeded {
                output.say("The run of \(commandWords) succeeded and passed every check: \(AppWords.change(report.before, report.after)) (\(raw: String(report.durationMs)) ms).")
                if !report.otherUsers.isEmpty {
                    output.warn("other processes had the database open during the run: \(report.otherUsers.joined(separator: ", "))")
                }
                if let record = report.record {
                    output.say("Recorded as run \(raw: String(record.run)); undo it with: \(raw: context.command("rollback", migrations: true))")
                }
                return
            }
            var lines = ["the run of \(commandWords) failed:"]
            lines += report.failures.map { "  " + AppWords.failure($0, command: commandWords) }
            FileHandle.standardError.write(Data(("error: " + TerminalText.escapeKeepingLines(lines.joined(separator: "\n")) + "\n").utf8))
            if !report.otherUsers.isEmpty {
                output.warn("other processes had the database open during the run, and what they wrote since the snapshot is not kept: \(report.otherUsers.joined(separator: ", "))")
            }
            if let restored = report.restored, let snapshot = report.snapshot {
                output.note("The database was restored to its state before the run (snapshot \(snapshot.id)): nothing of the run remains.")
                if let failedState = restored.preRestore {
                    output.note("The failed state is kept as snapshot \(failedState.id); look at it with: \(raw: context.command("restore", [failedState.id, "--to", "failed.db"], database: false))")
                }
            } else if let snapshot = report.snapshot {
                output.note("The failed state was kept (--no-restore). Restore the state before the run with: \(raw: context.command("restore", [snapshot.id], migrations: true))")
            }
        }
    }
}
