import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct PruneCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "prune",
            abstract: "Apply a retention policy to the store, safely, while snapshots are being written.",
            discussion: reflow("""
            Applies the policy (--policy, or policy in backstop.toml) to each database's snapshots separately,
            under the store's exclusive lock: a snapshot being written is waited for, never removed or
            tripped over. Prints kept snapshots with their reasons and removed ones with the space freed;
            --dry-run prints exactly what a real run would remove. Never removed: pinned snapshots, the
            newest of each database, snapshots dated in the future, and anything that cannot be read.
            Snapshots are removed whole, manifest first. Incomplete files are cleaned up once stale.
            --quiet prints nothing on success (for cron), and one summary line when there are warnings.
            With --all, prunes each database of the configuration with its own policy, in its own store.

            Then each replica of the database (see 'backstop push') is pruned with its own policy (policy in
            its [replicas.NAME], else the database's), under a lease on the replica (lock.json: owner and
            expiry; one prune per replica at a time, a stale lease is taken over). Uploads left unfinished
            by killed pushes and data files without a manifest are removed once an hour old.
            --replica NAME prunes that replica only; --no-replicas the local store only.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var allOptions: AllOptions

        @Option(help: ArgumentHelp("The retention policy (TOML). Default: policy in backstop.toml.", valueName: "file"))
        var policy: String?

        @Flag(help: "Show what would be removed; remove nothing.")
        var dryRun = false

        @Option(help: ArgumentHelp("Prune only this replica ([replicas.NAME] in backstop.toml, or an s3:// URL), not the local store.", valueName: "name"))
        var replica: String?

        @Flag(help: "Prune the local store only, not the replicas.")
        var noReplicas = false

        func validate() throws {
            if replica != nil && noReplicas { throw ValidationError("give '--replica' or '--no-replicas', not both") }
        }

        func run(_ session: Session) throws {
            if allOptions.all {
                try forEachDatabase(try target.resolveAll(policy: policy), session) { target, one in try prune(target, database: target.database, one) }
            } else {
                try prune(try target.resolve(session, requireDatabase: false, policy: policy), database: nil, session)
            }
        }

        func prune(_ resolved: Target, database: String?, _ session: Session) throws {
            let output = session.output
            var failures: [ExitStatus] = []
            var document: PruneJSON?
            if replica == nil {
                guard let policyPath = resolved.policy else {
                    throw BackstopError.invalidInput("which policy? Give --policy FILE (see policies/) or set policy in backstop.toml")
                }
                let retention = try RetentionPolicy.load(path: policyPath)
                let store = try session.openStore(resolved, create: false)
                let report = try Pruner.prune(store: store, policy: retention, dryRun: dryRun, lockWait: lock.lockWait, database: database,
                                              notify: output.notifier)
                document = show(report, location: store.path, policyPath: policyPath, database: database, output: output)
            }
            let replicas = try replica.map { [try target.replica($0)] } ?? (noReplicas ? [] : resolved.replicas)
            for settings in replicas {
                do {
                    guard let policyPath = settings.policy ?? resolved.policy else {
                        throw BackstopError.invalidInput("which policy for the replica \(settings.name)? Set policy in its [replicas.\(settings.name)] or the database's")
                    }
                    let retention = try RetentionPolicy.load(path: policyPath)
                    let remote = try session.openReplica(settings, resolved)
                    let report = try Pruner.prune(replica: remote, policy: retention, dryRun: dryRun, lockWait: lock.lockWait,
                                                  database: database, notify: output.notifier)
                    let one = show(report, location: remote.location, policyPath: policyPath, database: database, output: output)
                    if document == nil { document = one } else { document!.replicas.append(one) }
                } catch {
                    failures.append(session.report(error, json: false))
                }
            }
            if output.json, let document { output.emit(document) }
            let worst = ExitStatus.worst(failures)
            if worst != .success { throw ExitCode(worst.rawValue) }
        }

        /// Prints what one prune did (text), and returns it as JSON.
        func show(_ report: PruneReport, location: String, policyPath: String, database: String?, output: Output) -> PruneJSON {
            let manifests = Dictionary(uniqueKeysWithValues: (report.kept + report.removed).map { ($0.id, $0) })
            func item(_ verdict: RetentionVerdict) -> PruneJSON.VerdictJSON {
                .init(snapshot: SnapshotJSON(manifests[verdict.item.id]!, databaseNow: verdict.item.database), reasons: verdict.reasons)
            }
            let json = PruneJSON(store: location, policy: policyPath, database: database, dryRun: dryRun,
                                 keep: report.result.keep.map(item), remove: report.result.remove.map(item),
                                 freedBytes: report.freedBytes, staleFilesRemoved: report.staleFilesRemoved,
                                 warnings: report.result.warnings,
                                 notSnapshots: report.notSnapshots.map { FileProblemJSON(file: $0.file, reason: $0.reason) })
            if output.json { return json }
            let summary = "\(dryRun ? "would remove" : "removed") \(report.removed.count) snapshot\(report.removed.count == 1 ? "" : "s") (\(ByteCount.format(report.freedBytes))), kept \(report.kept.count)"
                + (report.staleFilesRemoved.isEmpty ? "" : "; \(dryRun ? "would clean" : "cleaned") \(report.staleFilesRemoved.count) stale incomplete file\(report.staleFilesRemoved.count == 1 ? "" : "s")")
            if output.quiet {
                // Cron: silence on success; one line when something needs a look.
                let attention = report.result.warnings + report.notSnapshots.filter { !$0.reason.hasPrefix("incomplete") }.map { "\($0.file): \($0.reason)" }
                if !attention.isEmpty {
                    FileHandle.standardError.write(Data(Line("backstop prune: \(location): \(raw: summary); \(raw: String(attention.count)) warning\(raw: attention.count == 1 ? "" : "s"): \(attention[0])\n").text.utf8))
                }
                return json
            }
            output.say("Prune of \(location) with \(policyPath)\(raw: dryRun ? " (dry run: nothing removed)" : ""):")
            let databases = Set((report.result.keep + report.result.remove).map(\.item.database)).sorted()
            for name in databases {
                output.say("\n\(name)")
                var table = TextTable(headers: ["", "ID", "CREATED (UTC)", "KIND", "STORED", "REASONS"])
                let verdicts = (report.result.keep.map { ("keep", $0) } + report.result.remove.map { (dryRun ? "would remove" : "removed", $0) })
                    .filter { $0.1.item.database == name }
                    .sorted { ($0.1.item.time, $0.1.item.id) < ($1.1.item.time, $1.1.item.id) }
                for (action, verdict) in verdicts {
                    let manifest = manifests[verdict.item.id]!
                    table.append([action, manifest.id, String(manifest.createdAt.prefix(19)).replacingOccurrences(of: "T", with: " "),
                                  manifest.kind.rawValue, ByteCount.format(manifest.compressedBytes), PolicyWords.reasons(verdict)])
                }
                output.say(table.render())
            }
            output.say("\n\(raw: summary.prefix(1).uppercased() + summary.dropFirst()).")
            for warning in report.result.warnings { output.warn("\(warning)") }
            for problem in report.notSnapshots { output.note("left alone: \(problem.file): \(problem.reason)") }
            return json
        }
    }
}
