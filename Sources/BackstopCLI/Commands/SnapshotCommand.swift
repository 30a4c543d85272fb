import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct SnapshotCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Take a consistent snapshot of the live database.",
            discussion: reflow("""
            Reads the database through SQLite's online backup API while other processes keep reading and
            writing it, compresses it as gzip on all cores as it reads (the store needs room for the
            compressed file only), checksums both sides with SHA-256, and runs PRAGMA quick_check on the
            same state. Prints the new snapshot's id (or, with --json, the snapshot).

            A database that fails quick_check is still snapshotted (it may be the best copy there is), with
            a warning; restoring that snapshot later needs --allow-failed-check.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var allOptions: AllOptions

        @Option(help: ArgumentHelp("A label to remember the snapshot by. Default: none.", valueName: "text"))
        var label: String?

        @Option(help: ArgumentHelp("Compression level, 1 (fastest) to 12 (smallest).", valueName: "n"))
        var level: Int = Snapshotter.defaultLevel

        @Flag(help: "Store nothing (and exit 0) when the database has not changed since its newest intact snapshot.")
        var ifChanged = false

        func validate() throws {
            try LevelValidation.check(level)
            if let label, label.utf8.count > 1000 { throw ValidationError("'--label' must be at most 1000 bytes") }
        }

        func run(_ session: Session) throws {
            if allOptions.all {
                try forEachDatabase(try target.resolveAll(), session) { target, one in try snapshot(target, one) }
            } else {
                try snapshot(try target.resolve(session), session)
            }
        }

        func snapshot(_ resolved: Target, _ session: Session) throws {
            let output = session.output
            try Database.checkIsSQLiteFile(resolved.database)
            let store = try session.openStore(resolved, create: true)
            var options = SnapshotOptions(kind: .manual, label: label)
            options.level = level
            options.ifChanged = ifChanged
            options.lockWait = lock.lockWait
            options.notify = output.notifier
            let bar = output.progress("snapshot")
            defer { bar?.finish() }
            let outcome = try Snapshotter.take(database: resolved.database, store: store, options: options, progress: bar?.handler)
            bar?.finish()
            let manifest = outcome.manifest
            if case .created = outcome, let check = manifest.check {
                if check.failed {
                    output.warn("\(resolved.database) fails PRAGMA \(check.method): \(check.problems.prefix(3).joined(separator: "; ")). Snapshot \(manifest.id) was kept (it may be the best copy there is); restoring it needs --allow-failed-check")
                } else if check.ok == nil {
                    output.warn("PRAGMA \(check.method) could not run on \(resolved.database): \(check.problems.first ?? "unknown reason")")
                } else if !check.notChecked.isEmpty {
                    output.note("note: PRAGMA \(check.method) could not check \(check.notChecked.joined(separator: "; "))")
                }
            }
            if output.json {
                let created: Bool
                if case .created = outcome { created = true } else { created = false }
                output.emit(SnapshotResultJSON(database: resolved.database, outcome: created ? "created" : "unchanged",
                                               snapshot: SnapshotJSON(manifest)))
                return
            }
            switch outcome {
            case .created(let manifest):
                output.say("\(manifest.id)")
                output.note("snapshot of \(manifest.database): \(raw: ByteCount.format(manifest.dbBytes)) stored as \(raw: ByteCount.format(manifest.compressedBytes))\(manifest.encryption.map { " (encrypted to \($0.recipients.joined(separator: ", ")))" } ?? "") in \(raw: String(manifest.durationMs)) ms")
            case .unchanged(let manifest):
                output.note("unchanged since snapshot \(manifest.id) (\(manifest.createdAt)); nothing stored")
            }
        }
    }
}
