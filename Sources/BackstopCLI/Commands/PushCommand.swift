import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct PushCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "push",
            abstract: "Copy snapshots that a replica lacks to it (off-site, on S3-compatible storage).",
            discussion: reflow("""
            Replicas are [replicas.NAME] tables in backstop.toml (url = "s3://bucket/prefix", endpoint,
            region, path_style, profile, policy); a database uses those its 'replicas' key names, or all of
            them. Credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN), or a
            profile of ~/.aws/credentials, and are never printed.

            Pushes every snapshot of the database the replica does not hold yet, oldest first, except those
            the replica's retention policy would remove at once. Each data file is uploaded (in parts above
            8 MiB, several at a time, with Content-MD5, its SHA-256 signed, retried on errors), checked on
            the server (size, ETag, SHA-256), and only then is its manifest uploaded, never over another
            (If-None-Match: *): a snapshot is listed on the replica only when it is complete. Idempotent: run
            it again after a failure, and it sends what is missing, resuming a large upload where it stopped.
            'backstop snapshot' pushes each new snapshot by itself (--no-push skips that).

            A replica with recipients of its own (recipients, recipients_file or passphrase_file in its
            [replicas.NAME]) gets every snapshot encrypted to them with age as it is uploaded, nothing written
            locally; a snapshot the store holds encrypted to other keys is decrypted on the way with the
            store's identity (--identity, BACKSTOP_IDENTITY or identity in backstop.toml). Read such a
            replica with its identity ('identity' in its table, or --identity).

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions
        @OptionGroup var allOptions: AllOptions

        @Argument(help: ArgumentHelp("Push only these snapshots (ids or unique prefixes). Default: every snapshot of the database.", valueName: "id"))
        var ids: [String] = []

        @Option(name: .customLong("to"), help: ArgumentHelp("Push to this replica only ([replicas.NAME], or an s3:// URL). Default: every replica of the database.", valueName: "replica"))
        var replica: String?

        func validate() throws {
            if allOptions.all && !ids.isEmpty { throw ValidationError("give snapshot ids or '--all', not both") }
        }

        func run(_ session: Session) throws {
            if allOptions.all {
                try forEachDatabase(try target.resolveAll(), session) { target, one in try push(target, one) }
            } else {
                try push(try target.resolve(session), session)
            }
        }

        func push(_ resolved: Target, _ session: Session) throws {
            let replicas = try replica.map { [try target.replica($0)] } ?? resolved.replicas
            guard !replicas.isEmpty else {
                throw BackstopError.invalidInput("\(resolved.database) has no replicas: add [replicas.NAME] with url = \"s3://bucket/prefix\" to backstop.toml, or give --to s3://bucket/prefix; nothing was pushed")
            }
            let store = try session.openStore(resolved, create: false)
            let only = ids.isEmpty ? nil : try ids.map { try store.snapshot(id: $0) }
            let reports = try PushCommand.push(store, resolved, replicas: replicas, only: only, lockWait: lock.lockWait, session: session)
            if session.output.json {
                session.output.emit(PushJSON(database: FileSystem.absolute(resolved.database), replicas: reports.map(PushJSON.Replica.init)))
            }
            let worst = ExitStatus.worst(reports.map(\.status))
            if worst != .success { throw ExitCode(worst.rawValue) }
        }

        /// One replica's outcome: its report, or the error that stopped it.
        struct Outcome {
            var settings: ReplicaSettings
            var location: String
            var report: PushReport?
            var error: String?
            var status: ExitStatus
        }

        /// Pushes to each replica in turn (a failing one does not stop the others); says what happened.
        /// `mainResult`: what was pushed is this command's result (stdout); otherwise (after `snapshot`, whose
        /// stdout is the id) it is a note on stderr.
        static func push(_ store: SnapshotStore, _ resolved: Target, replicas: [ReplicaSettings], only: [Manifest]?, lockWait: TimeInterval,
                         mainResult: Bool = true, session: Session) throws -> [Outcome] {
            let output = session.output
            var outcomes: [Outcome] = []
            for settings in replicas {
                var location = settings.url
                do {
                    let remote = try session.openReplica(settings, resolved)
                    location = remote.location
                    let policy = try (settings.policy ?? resolved.policy).map { try RetentionPolicy.load(path: $0) }
                    let bar = output.progress("push to \(settings.name)")
                    let report = try Replicator.push(from: store, to: remote, database: FileSystem.absolute(resolved.database), only: only,
                                                     policy: policy, lockWait: lockWait,
                                                     progress: bar.map { bar in { _, phase, done, total in bar.update(phase, done, total) } },
                                                     notify: output.notifier)
                    bar?.finish()
                    outcomes.append(Outcome(settings: settings, location: location, report: report, status: .success))
                    if !output.json {
                        let pushed = report.pushed.count
                        var line = "pushed \(pushed) snapshot\(pushed == 1 ? "" : "s") (\(ByteCount.format(report.bytes))) to \(settings.name) (\(location))"
                        if !report.encrypted.isEmpty {
                            line += report.encrypted.count == pushed ? ", encrypted to its recipients" : ", \(report.encrypted.count) of them encrypted to its recipients"
                        }
                        if !report.present.isEmpty { line += "; \(report.present.count) already there" }
                        if report.resumedParts > 0 { line += "; resumed an interrupted upload (\(report.resumedParts) parts were there)" }
                        if !report.skipped.isEmpty { line += "; \(report.skipped.count) not sent (its policy would remove them)" }
                        if pushed > 0 && mainResult { output.say("\(line)") } else { output.note("\(line)") }
                        if !report.notToItsRecipients.isEmpty {
                            let count = report.notToItsRecipients.count
                            output.note("\(settings.name) holds \(count) snapshot\(count == 1 ? "" : "s") not encrypted to its recipients (pushed before they were set): \(report.notToItsRecipients.map(\.id).joined(separator: ", ")); they stay as they are until pruned")
                        }
                    }
                } catch {
                    let (message, _, _) = Words.error(error, session.context)
                    let status = session.report(error, json: false)
                    outcomes.append(Outcome(settings: settings, location: location, report: nil, error: message, status: status))
                }
            }
            return outcomes
        }
    }
}

/// `backstop push --json`, and the `pushed` part of `backstop snapshot --json`.
struct PushJSON: Encodable {
    var schema = JSONOutput.schema("push")
    var database: String
    var replicas: [Replica]

    struct Replica: Encodable {
        var name: String
        var location: String
        var ok: Bool
        var pushed: [String]
        var alreadyThere: [String]
        var skippedByPolicy: [String]
        var encryptedForReplica: [String]
        var heldNotEncryptedForReplica: [String]
        var bytes: Int64
        var resumedParts: Int
        @Null var error: String?

        init(_ outcome: Backstop.PushCommand.Outcome) {
            name = outcome.settings.name
            location = outcome.location
            ok = outcome.status == .success
            pushed = outcome.report?.pushed.map(\.id) ?? []
            alreadyThere = outcome.report?.present.map(\.id) ?? []
            skippedByPolicy = outcome.report?.skipped.map(\.id) ?? []
            encryptedForReplica = outcome.report?.encrypted.map(\.id) ?? []
            heldNotEncryptedForReplica = outcome.report?.notToItsRecipients.map(\.id) ?? []
            bytes = outcome.report?.bytes ?? 0
            resumedParts = outcome.report?.resumedParts ?? 0
            error = outcome.error
        }

        enum CodingKeys: String, CodingKey {
            case name, location, ok, pushed, alreadyThere = "already_there", skippedByPolicy = "skipped_by_policy"
            case encryptedForReplica = "encrypted_for_replica", heldNotEncryptedForReplica = "held_not_encrypted_for_replica", bytes
            case resumedParts = "resumed_parts", error
        }
    }
}
