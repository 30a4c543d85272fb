import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct PruneCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Apply a retention policy to the store, safely, while snapshots are being written.",
            discussion: """
            Applies the policy (--policy, or policy in backstop.toml) to each database's snapshots separately,
            under the store's exclusive lock: a snapshot being written is waited for, never removed or
            tripped over. Prints kept snapshots with their reasons and removed ones with the space freed;
            --dry-run prints exactly what a real run would remove. Never removed: pinned snapshots, the
            newest of each database, snapshots dated in the future, and anything that cannot be read.
            Snapshots are removed whole, manifest first. Incomplete files are cleaned up once stale.
            --quiet prints nothing on success (for cron), and one summary line when there are warnings.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Option(help: ArgumentHelp("The retention policy (TOML). Default: policy in backstop.toml.", valueName: "file"))
        var policy: String?

        @Flag(help: "Show what would be removed; remove nothing.")
        var dryRun = false

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: false, policy: policy)
            guard let policyPath = resolved.policy else {
                throw BackstopError.invalidInput("which policy? Give --policy FILE (see policies/) or set policy in backstop.toml")
            }
            let retention = try RetentionPolicy.load(path: policyPath)
            let store = try target.openStore(resolved, create: false)
            let report = try Pruner.prune(store: store, policy: retention, dryRun: dryRun, lockWait: lock.lockWait)
            let manifests = Dictionary(uniqueKeysWithValues: (report.kept + report.removed).map { ($0.id, $0) })

            if output.json {
                func item(_ verdict: RetentionVerdict) -> Any {
                    var object = JSON.object(manifests[verdict.item.id]!) as? [String: Any] ?? [:]
                    object["reasons"] = verdict.reasons
                    return object
                }
                output.emitJSON([
                    "keep": report.result.keep.map(item), "remove": report.result.remove.map(item),
                    "dry_run": dryRun, "freed_bytes": report.freedBytes, "policy": policyPath,
                    "stale_files_removed": report.staleFilesRemoved, "warnings": report.result.warnings,
                    "not_snapshots": report.notSnapshots.map { ["file": $0.file, "reason": $0.reason] },
                ] as [String: Any])
                return
            }
            let summary = "\(dryRun ? "would remove" : "removed") \(report.removed.count) snapshot\(report.removed.count == 1 ? "" : "s") (\(ByteCount.format(report.freedBytes))), kept \(report.kept.count)"
                + (report.staleFilesRemoved.isEmpty ? "" : "; \(dryRun ? "would clean" : "cleaned") \(report.staleFilesRemoved.count) stale incomplete file\(report.staleFilesRemoved.count == 1 ? "" : "s")")
            if output.quiet {
                // Cron: silence on success; one line when something needs a look.
                let attention = report.result.warnings + report.notSnapshots.filter { !$0.reason.hasPrefix("incomplete") }.map { "\($0.file): \($0.reason)" }
                if !attention.isEmpty {
                    FileHandle.standardError.write(Data("backstop prune: \(summary); \(attention.count) warning\(attention.count == 1 ? "" : "s"): \(attention[0])\n".utf8))
                }
                return
            }
            output.say("Prune of \(store.path) with \(policyPath)\(dryRun ? " (dry run: nothing removed)" : ""):")
            let databases = Set((report.kept + report.removed).map(\.database)).sorted()
            for database in databases {
                output.say("\n\(database)")
                var table = TextTable(headers: ["", "ID", "CREATED (UTC)", "KIND", "STORED", "REASONS"])
                let verdicts = (report.result.keep.map { ("keep", $0) } + report.result.remove.map { (dryRun ? "would remove" : "removed", $0) })
                    .filter { $0.1.item.database == database }
                    .sorted { ($0.1.item.time, $0.1.item.id) < ($1.1.item.time, $1.1.item.id) }
                for (action, verdict) in verdicts {
                    let manifest = manifests[verdict.item.id]!
                    table.rows.append([action, manifest.id, String(manifest.createdAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                                       manifest.kind, ByteCount.format(manifest.compressedBytes), verdict.reasons.joined(separator: ", ")])
                }
                output.say(table.render())
            }
            output.say("\n" + summary.prefix(1).uppercased() + summary.dropFirst() + ".")
            for warning in report.result.warnings { output.warn(warning) }
            for problem in report.notSnapshots { output.note("left alone: \(problem.file): \(problem.reason)") }
        }
    }

    struct PinCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pin",
            abstract: "Pin a snapshot so that no prune removes it.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var pin: PinArguments

        @Option(help: ArgumentHelp("Why it is pinned (a ticket number ...). Default: none.", valueName: "text"))
        var note: String?

        func run() throws { try pin.setPinned(true, note: note) }
    }

    struct UnpinCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "unpin",
            abstract: "Remove a snapshot's pin; retention judges it again.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var pin: PinArguments

        func run() throws { try pin.setPinned(false, note: nil) }
    }

    /// What `pin` and `unpin` share: which snapshot, and setting its pin.
    struct PinArguments: ParsableArguments {
        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: "The snapshot id (or a unique prefix of at least 8 characters).")
        var id: String

        func setPinned(_ pinned: Bool, note: String?) throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: false)
            let manifest = try Pinning.setPinned(pinned, id: id, note: note, store: try target.openStore(resolved, create: false),
                                                 lockWait: lock.lockWait)
            if output.json { output.emitJSON(JSON.object(manifest)); return }
            output.say((pinned ? "pinned " : "unpinned ") + manifest.id + (manifest.pinNote.map { " (\($0))" } ?? ""))
        }
    }
}
