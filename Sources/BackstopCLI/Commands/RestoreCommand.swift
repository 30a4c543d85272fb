import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RestoreCommand: BackstopCommand, Confirming {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Restore a snapshot: point-in-time restore into the live database or a new file.",
            discussion: reflow("""
            Choose the snapshot by id, with --latest (the most recently taken one, by the store's order, not by
            clock; safety snapshots taken by restores, recoveries and down migrations are passed over unless
            --kind asks for them), with --at TIME (the snapshot current at TIME: 2026-11-22T10:00:00Z,
            '2026-11-22 10:00' in local time, or 2h, 3d ago), or with --before-migration VERSION (the snapshot
            taken just before VERSION was applied).

            Without --to, restores into the live database (--db): evaluates the migrations folder's guard.sql,
            takes a 'pre-restore' snapshot of the current state (so the restore can be undone: the output says
            how), then replaces the contents in one transaction through SQLite's backup API, verifying both
            checksums of the snapshot before the commit; safe while other connections have the database open.
            Needs --yes when standard input is not a terminal.

            With --to PATH, writes the snapshot's exact image to a new database file; refuses to replace an
            existing file unless --force, and even then one that another process has open. Never leaves the
            file beside a -wal, -shm or -journal of another state.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Argument(help: ArgumentHelp("The snapshot id (or a unique prefix of at least 8 characters).", valueName: "id"))
        var id: String?

        @Flag(help: "Restore the most recently taken snapshot of the database.")
        var latest = false

        @Option(help: ArgumentHelp("Restore the snapshot current at this time.", valueName: "time"))
        var at: String?

        @Option(help: ArgumentHelp("Restore the snapshot taken just before this migration was applied.", valueName: "version"))
        var beforeMigration: Int64?

        @Option(help: ArgumentHelp("With --latest or --at, choose among snapshots of this kind only (manual, pre-migration, pre-restore, pre-recover, pre-down). Repeatable. Default: every kind but safety snapshots for --latest, every kind for --at.", valueName: "kind"))
        var kind: [String] = []

        @Option(help: ArgumentHelp("Write a new database file here instead of restoring into the live database.", valueName: "path"))
        var to: String?

        @Flag(help: "With --to, replace an existing file (never one another process has open).")
        var force = false

        @Option(help: ArgumentHelp("Compression level of the pre-restore snapshot, 1 to 12 (fastest by default: restores happen in a hurry).", valueName: "n"))
        var level: Int = 1

        @Flag(help: "Restore a snapshot of a database that failed SQLite's check when it was taken.")
        var allowFailedCheck = false

        func validate() throws {
            let chosen = [id != nil, latest, at != nil, beforeMigration != nil].filter { $0 }.count
            if chosen == 0 { throw ValidationError("choose a snapshot: give an ID, --latest, --at TIME or --before-migration VERSION") }
            if chosen > 1 { throw ValidationError("give only one of ID, '--latest', '--at' and '--before-migration'") }
            if force && to == nil { throw ValidationError("'--force' only applies with '--to'") }
            if !kind.isEmpty && !latest && at == nil { throw ValidationError("'--kind' only applies with '--latest' or '--at'") }
            for name in kind where !SnapshotKind(rawValue: name).isWellFormed {
                throw ValidationError("'--kind' takes a snapshot kind such as manual or pre-migration, not '\(name)'")
            }
            try LevelValidation.check(level)
        }

        var selection: SnapshotSelection {
            get throws {
                if let id { return .id(id) }
                if latest { return .latest }
                if let at { return .at(try Timestamp.parsePointInTime(at)) }
                return .beforeMigration(beforeMigration!)
            }
        }

        func run(_ session: Session) throws {
            let output = session.output
            session.ignoringGuard(guardOptions.ignoreGuard)
            let resolved = try target.resolve(session, requireDatabase: to == nil || id == nil, migrations: migrations.dir)
            let from = try session.openSource(resolved, from: source.from, options: target)
            let request = RestoreRequest(try selection, kinds: kind.isEmpty ? nil : Set(kind.map(SnapshotKind.init)))
            var options = RestoreOptions()
            options.lockWait = lock.lockWait
            options.level = level
            options.force = force
            options.allowFailedCheck = allowFailedCheck
            options.migrations = resolved.migrations
            options.ignoreGuard = guardOptions.ignoreGuard
            options.notify = output.notifier
            if let to {
                let bar = output.progress("restore")
                // No local store is needed to restore a replica's snapshot to a new file (a new machine).
                let store = try from as? SnapshotStore ?? session.openLocalStore(resolved, create: false)
                let (selected, report) = try Restorer.restore(request, from: from, store: store, database: resolved.database, toFile: to, options: options,
                                                             confirm: { if id == nil { output.note("picked \(Words.selection($0))") } },
                                                             progress: bar?.handler)
                bar?.finish()
                RestoreCommand.emit(report, selected: selected, session: session)
                return
            }
            try Database.checkIsSQLiteFile(resolved.database)
            let bar = output.progress("restore")
            // The pre-restore snapshot goes into the local store (created if need be, when reading a replica).
            let store = try from as? SnapshotStore ?? session.openStore(resolved, create: true)
            let (selected, report) = try Restorer.restore(request, from: from, store: store, database: resolved.database, options: options, confirm: { selected in
                if id == nil { output.note("picked \(Words.selection(selected))") }
                let manifest = selected.manifest
                let age = DurationText.format(Date().timeIntervalSince(manifest.createdDate))
                try confirmation.confirm("""
                    This replaces the contents of \(resolved.database)
                    with snapshot \(manifest.id), taken \(manifest.createdAt) (\(raw: age) ago, \(Timestamp.local(manifest.createdDate))).
                    Everything written to the database since then will be lost.
                    A 'pre-restore' snapshot of the current state is taken first, so this can be undone.
                    """, question: "Restore?", action: "restoring into the live database \(resolved.database) replaces its contents and",
                    output: output)
            }, progress: bar?.handler)
            bar?.finish()
            RestoreCommand.emit(report, selected: selected, session: session)
        }

        /// The command that undoes a live restore, with the flags this run used (so it works as printed).
        static func undoCommand(_ report: RestoreReport, session: Session) -> String? {
            guard let pre = report.preRestore else { return nil }
            var context = session.context
            context.database = report.target
            return context.command("restore", [pre.id], migrations: true, changes: true)
        }

        static func emit(_ report: RestoreReport, selected: SelectedSnapshot?, session: Session,
                         undoneRun: [Int64] = []) {
            let output = session.output
            let undo = undoCommand(report, session: session)
            if output.json {
                let by: String
                switch selected?.selection {
                case .id?: by = "id"
                case .latest?: by = "latest"
                case .at?: by = "at"
                case .beforeMigration?: by = "before-migration"
                case nil: by = "rollback"
                }
                output.emit(RestoreJSON(schema: JSONOutput.schema(selected == nil ? "rollback" : "restore"),
                                        restored: SnapshotJSON(report.restored), selectedBy: by, target: report.target,
                                        toFile: report.preRestore == nil, preRestore: report.preRestore.map { SnapshotJSON($0) },
                                        durationMs: report.durationMs, convertedPageSize: report.convertedPageSize, notes: report.notes,
                                        undo: undo, undoneVersions: undoneRun))
                return
            }
            output.say("restored snapshot \(report.restored.id) (\(report.restored.createdAt)) into \(report.target)")
            if report.convertedPageSize {
                output.say("the image was rebuilt at the live database's page size (WAL databases cannot change it)")
            }
            for note in report.notes { output.note("note: \(note)") }
            if let undo { output.say("undo with: \(undo)") }
        }
    }
}
