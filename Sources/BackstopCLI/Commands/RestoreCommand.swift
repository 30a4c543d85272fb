import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RestoreCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "restore",
            abstract: "Restore a snapshot: point-in-time restore into the live database or a new file.",
            discussion: """
            Choose the snapshot by id, with --latest, or with --at TIME (the newest snapshot taken at or
            before TIME: 2026-11-22T10:00:00Z, '2026-11-22 10:00' in local time, or 2h, 3d ago).

            Without --to, restores into the live database (--db): verifies the snapshot, takes a
            'pre-restore' snapshot of the current state (so the restore can be undone), then replaces the
            contents in one transaction through SQLite's backup API, safe while other connections have the
            database open. Needs --yes when standard input is not a terminal.

            With --to PATH, writes the snapshot's exact image to a new database file; refuses to replace an
            existing file unless --force.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: ArgumentHelp("The snapshot id (or a unique prefix of at least 8 characters).", valueName: "id"))
        var id: String?

        @Flag(help: "Restore the newest snapshot of the database.")
        var latest = false

        @Option(help: ArgumentHelp("Restore the newest snapshot taken at or before this time.", valueName: "time"))
        var at: String?

        @Option(help: ArgumentHelp("Write a new database file here instead of restoring into the live database.", valueName: "path"))
        var to: String?

        @Flag(help: "With --to, replace an existing file.")
        var force = false

        @Flag(name: [.short, .long], help: "Do not ask for confirmation (required when standard input is not a terminal).")
        var yes = false

        func validate() throws {
            let chosen = [id != nil, latest, at != nil].filter { $0 }.count
            if chosen == 0 { throw ValidationError("choose a snapshot: give an ID, --latest, or --at TIME") }
            if chosen > 1 { throw ValidationError("give only one of ID, '--latest' and '--at'") }
            if force && to == nil { throw ValidationError("'--force' only applies with '--to'") }
        }

        var selection: SnapshotSelection {
            get throws {
                if let id { return .id(id) }
                if latest { return .latest }
                return .at(try Timestamp.parsePointInTime(at!))
            }
        }

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: to == nil)
            let store = try target.openStore(resolved, create: false)
            let selection = try self.selection
            if resolved.database.isEmpty, selection != .id(id ?? "") {
                throw BackstopError.invalidInput("--latest and --at choose among one database's snapshots: give --db")
            }
            let (manifest, explanation) = try selection.resolve(in: store, database: resolved.database)
            if case .id = selection {} else { output.note("picked \(explanation)") }

            let bar = output.progress("restore")
            defer { bar?.finish() }
            if let to {
                let report = try Restorer.restoreToFile(manifest, store: store, path: to, force: force, progress: bar?.handler)
                bar?.finish()
                emit(report, output: output)
                return
            }

            try Database.checkIsSQLiteFile(resolved.database)
            if !yes {
                guard Output.stdinIsTerminal else {
                    throw BackstopError.refused(
                        "restoring into the live database \(resolved.database) replaces its contents; nothing was changed",
                        hint: "add --yes to confirm (standard input is not a terminal, so Backstop cannot ask)")
                }
                let age = DurationText.format(Date().timeIntervalSince(manifest.createdDate))
                FileHandle.standardError.write(Data("""
                This replaces the contents of \(resolved.database)
                with snapshot \(manifest.id), taken \(manifest.createdAt) (\(age) ago, \(Timestamp.local(manifest.createdDate))).
                Everything written to the database since then will be lost.
                A 'pre-restore' snapshot of the current state is taken first, so this can be undone.

                """.utf8))
                guard Output.confirm("Restore?") else {
                    throw BackstopError.refused("restore cancelled; nothing was changed", hint: "")
                }
            }
            var options = RestoreOptions()
            options.lockWait = lock.lockWait
            let report = try Restorer.restoreLive(manifest, store: store, database: resolved.database, options: options,
                                                  progress: bar?.handler)
            bar?.finish()
            emit(report, output: output)
        }

        func emit(_ report: RestoreReport, output: Output) {
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
