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

            Then the snapshot is pushed to each replica of the database (see 'backstop push'); --no-push
            skips that. A push that fails leaves the snapshot stored locally and exits 1 ('backstop push'
            sends it later).

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

        @Flag(help: "Do not push the new snapshot to the database's replicas.")
        var noPush = false

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
            let created: Bool
            if case .created = outcome { created = true } else { created = false }
            if !output.json {
                switch outcome {
                case .created(let manifest):
                    output.say("\(manifest.id)")
                    output.note("snapshot of \(manifest.database): \(raw: ByteCount.format(manifest.dbBytes)) stored as \(raw: ByteCount.format(manifest.compressedBytes))\(manifest.encryption.map { " (encrypted to \($0.recipients.joined(separator: ", ")))" } ?? "") in \(raw: String(manifest.durationMs)) ms")
                case .unchanged(let manifest):
                    output.note("unchanged since snapshot \(manifest.id) (\(manifest.createdAt)); nothing stored")
                }
            }
            // Off-site: the new snapshot (an unchanged database: the newest, in case it was never sent).
            var pushes: [PushCommand.Outcome] = []
            if !noPush && !resolved.replicas.isEmpty {
                pushes = try PushCommand.push(store, resolved, replicas: resolved.replicas, only: [manifest], lockWait: options.lockWait,
                                              mainResult: false, session: session)
            }
            if output.json {
                output.emit(SnapshotResultJSON(database: resolved.database, outcome: created ? "created" : "unchanged",
                                               snapshot: SnapshotJSON(manifest), pushed: pushes.map(PushJSON.Replica.init)))
            }
            let worst = ExitStatus.worst(pushes.map(\.status))
            if worst != .success {
                if !output.json { output.note("snapshot \(manifest.id) is stored locally; run 'backstop push' to send it when the replica is reachable") }
                throw ExitCode(worst.rawValue)
            }
        }
    }
}
