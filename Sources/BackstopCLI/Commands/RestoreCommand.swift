import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RestoreCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Restore a snapshot: point-in-time restore into the live database or a new file.",
            discussion: """
            Choose the snapshot by id, with --latest, with --at TIME (the newest snapshot taken at or before
            TIME: 2026-11-22T10:00:00Z, '2026-11-22 10:00' in local time, or 2h, 3d ago), or with
            --before-migration VERSION (the snapshot taken just before VERSION was applied).

            Without --to, restores into the live database (--db): verifies the snapshot, evaluates the
            migrations folder's guard.sql, takes a 'pre-restore' snapshot of the current state (so the
            restore can be undone), then replaces the contents in one transaction through SQLite's backup
            API, safe while other connections have the database open. Needs --yes when standard input is
            not a terminal.

            With --to PATH, writes the snapshot's exact image to a new database file; refuses to replace an
            existing file unless --force.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var guardOptions: GuardOptions
        @OptionGroup var confirmation: ConfirmOptions

        @Argument(help: ArgumentHelp("The snapshot id (or a unique prefix of at least 8 characters).", valueName: "id"))
        var id: String?

        @Flag(help: "Restore the newest snapshot of the database.")
        var latest = false

        @Option(help: ArgumentHelp("Restore the newest snapshot taken at or before this time.", valueName: "time"))
        var at: String?

        @Option(help: ArgumentHelp("Restore the snapshot taken just before this migration was applied.", valueName: "version"))
        var beforeMigration: Int64?

        @Option(help: ArgumentHelp("Write a new database file here instead of restoring into the live database.", valueName: "path"))
        var to: String?

        @Flag(help: "With --to, replace an existing file.")
        var force = false

        @Option(help: ArgumentHelp("Compression level of the pre-restore snapshot, 1 to 12. Default: 1 (fastest; restores happen in a hurry).", valueName: "n"))
        var level: Int = 1

        func validate() throws {
            let chosen = [id != nil, latest, at != nil, beforeMigration != nil].filter { $0 }.count
            if chosen == 0 { throw ValidationError("choose a snapshot: give an ID, --latest, --at TIME or --before-migration VERSION") }
            if chosen > 1 { throw ValidationError("give only one of ID, '--latest', '--at' and '--before-migration'") }
            if force && to == nil { throw ValidationError("'--force' only applies with '--to'") }
            guard (1...12).contains(level) else { throw ValidationError("'--level' must be between 1 and 12") }
        }

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: to == nil || id == nil, migrations: migrations.dir)
            let store = try target.openStore(resolved, create: false)
            let selection: SnapshotSelection
            var history: [Int64: String] = [:]
            if let id { selection = .id(id) }
            else if latest { selection = .latest }
            else if let at { selection = .at(try Timestamp.parsePointInTime(at)) }
            else {
                selection = .beforeMigration(beforeMigration!)
                if FileSystem.exists(resolved.database) { history = try Rollback.snapshotsByVersion(database: resolved.database) }
            }
            let (manifest, explanation) = try selection.resolve(in: store, database: resolved.database, history: history)
            if id == nil { output.note("picked \(explanation)") }

            if let to {
                let bar = output.progress("restore")
                var options = RestoreOptions()
                options.force = force
                options.lockWait = lock.lockWait
                let report = try Restorer.restoreToFile(manifest, store: store, path: to, options: options, progress: bar?.handler)
                bar?.finish()
                RestoreCommand.emit(report, output: output)
                return
            }

            try Database.checkIsSQLiteFile(resolved.database)
            let age = DurationText.format(Date().timeIntervalSince(manifest.createdDate))
            try confirmation.confirm("""
                This replaces the contents of \(resolved.database)
                with snapshot \(manifest.id), taken \(manifest.createdAt) (\(age) ago, \(Timestamp.local(manifest.createdDate))).
                Everything written to the database since then will be lost.
                A 'pre-restore' snapshot of the current state is taken first, so this can be undone.
                """, question: "Restore?", action: "restoring into the live database \(resolved.database) replaces its contents and", output: output)
            try RestoreCommand.restoreLive(manifest, resolved: resolved, store: store, lockWait: lock.lockWait,
                                           ignoreGuard: guardOptions.ignoreGuard, level: level, output: output)
        }

        /// Restores into the live database with the guard of the target's migrations folder.
        static func restoreLive(_ manifest: Manifest, resolved: Target, store: SnapshotStore, lockWait: TimeInterval,
                                ignoreGuard: Bool, level: Int, output: Output) throws {
            var options = RestoreOptions()
            options.lockWait = lockWait
            options.level = level
            let guardQueries = ignoreGuard ? [] : MigrationDirectory.guardQueries(at: resolved.migrations)
            if !guardQueries.isEmpty {
                options.beforeChange = { db in try Guard.enforce(guardQueries, on: db, action: "restore") }
            }
            let bar = output.progress("restore")
            let report = try Restorer.restoreLive(manifest, store: store, database: resolved.database, options: options,
                                                  progress: bar?.handler)
            bar?.finish()
            emit(report, output: output)
        }

        static func emit(_ report: RestoreReport, output: Output) {
            if output.json {
                var object: [String: Any] = [
                    "restored": JSON.object(report.restored), "target": report.target, "duration_ms": report.durationMs,
                    "converted_page_size": report.convertedPageSize,
                ]
                object["pre_restore"] = report.preRestore.map { JSON.object($0) } ?? NSNull()
                output.emitJSON(object)
                return
            }
            output.say("restored snapshot \(report.restored.id) (\(report.restored.createdAt)) into \(report.target)")
            if report.convertedPageSize {
                output.say("the image was rebuilt at the live database's page size (WAL databases cannot change it)")
            }
            if let pre = report.preRestore {
                output.say("undo with: backstop restore \(pre.id) --db \(report.target)")
            }
        }
    }
}
