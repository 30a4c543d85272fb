import ArgumentParser
import BackstopKit

extension Backstop {
    struct SnapshotCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "snapshot",
            abstract: "Take a consistent snapshot of the live database.",
            discussion: """
            Copies the database through SQLite's online backup API while other processes keep reading and
            writing it, compresses it as gzip on all cores, and checksums it with SHA-256. Prints the new
            snapshot's id (or its manifest with --json).

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Option(help: ArgumentHelp("A label to remember the snapshot by. Default: none.", valueName: "text"))
        var label: String?

        @Option(help: ArgumentHelp("Compression level, 1 (fastest) to 12 (smallest). Default: \(Snapshotter.defaultLevel).", valueName: "n"))
        var level: Int = Snapshotter.defaultLevel

        @Flag(help: "Store nothing (and exit 0) when the database has not changed since its newest snapshot.")
        var ifChanged = false

        func validate() throws {
            guard (1...12).contains(level) else { throw ValidationError("'--level' must be between 1 and 12") }
        }

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve()
            try Database.checkIsSQLiteFile(resolved.database)
            let store = try target.openStore(resolved, create: true)
            var options = SnapshotOptions(kind: "manual", label: label)
            options.level = level
            options.ifChanged = ifChanged
            options.lockWait = lock.lockWait
            let bar = output.progress("snapshot")
            defer { bar?.finish() }
            let outcome = try Snapshotter.take(database: resolved.database, store: store, options: options, progress: bar?.handler)
            bar?.finish()
            switch outcome {
            case .created(let manifest):
                if output.json { output.emitJSON(JSON.object(manifest)); return }
                output.say(manifest.id)
                output.note("snapshot of \(manifest.database): \(ByteCount.format(manifest.dbBytes)) stored as \(ByteCount.format(manifest.compressedBytes)) in \(manifest.durationMs) ms")
            case .unchanged(let manifest):
                if output.json {
                    output.emitJSON(["unchanged": true, "snapshot": JSON.object(manifest)])
                    return
                }
                output.note("unchanged since snapshot \(manifest.id) (\(manifest.createdAt)); nothing stored")
            }
        }
    }
}
