import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct VerifyCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check snapshots against their checksums.",
            discussion: reflow("""
            Checks the snapshots of the database (or, given only --store, every snapshot in the store, or the
            ids named): each stored file against its size and SHA-256. With --deep, also decompresses it as a
            stream (checking the image's SHA-256 and size) and runs PRAGMA integrity_check on the snapshot read
            in place: nothing is written anywhere, so read-only stores and full disks are fine.

            With --from REPLICA, checks the replica's copies: without --deep, the size and SHA-256 the server
            holds (nothing is downloaded); with --deep, streamed as above.

            Exit status 4 if any snapshot is damaged, giving the reason for each; 3 if there is no store, no
            snapshot to verify, or a snapshot disappeared (pruned) while verify ran; 1 if a replica could
            not be read (not damage).

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var allOptions: AllOptions

        @Argument(help: ArgumentHelp("Snapshot ids. Default: every snapshot of the database (or of the store).", valueName: "id"))
        var ids: [String] = []

        @Flag(help: "Also decompress each snapshot, check the image's checksum and run PRAGMA integrity_check.")
        var deep = false

        func validate() throws {
            if allOptions.all && !ids.isEmpty { throw ValidationError("give snapshot ids or '--all', not both") }
        }

        func run(_ session: Session) throws {
            if allOptions.all {
                try forEachDatabase(try target.resolveAll(), session) { target, one in try verify(target, one) }
            } else {
                try verify(try target.resolve(session, requireDatabase: false), session)
            }
        }

        func verify(_ resolved: Target, _ session: Session) throws {
            let output = session.output
            let database = resolved.database.isEmpty ? nil : resolved.database
            guard source.from != nil || FileSystem.isDirectory(resolved.store) else {
                let message = "there is no snapshot store at \(FileSystem.absolute(resolved.store)): nothing was verified"
                if output.json {
                    output.emit(VerifyJSON(store: FileSystem.absolute(resolved.store), database: database, deep: deep, ok: false, snapshots: [], unreadable: []))
                }
                throw session.fail(BackstopError.snapshotNotFound(message, remedy: nil))
            }
            let store = try session.openSource(resolved, from: source.from, options: target)
            let scan = try store.scan()
            let manifests: [Manifest]
            if !ids.isEmpty {
                manifests = try ids.map { try store.snapshot(id: $0) }
            } else if let database {
                manifests = try store.snapshots(ofDatabase: database)
            } else {
                manifests = scan.snapshots
            }
            var results: [VerificationResult] = []
            for manifest in manifests {
                Fault.point("verify.before-snapshot")
                let bar = output.progress("verify \(manifest.id)")
                let result = Verifier.verify(manifest, in: store, deep: deep, progress: bar?.handler)
                bar?.finish()
                results.append(result)
                if !output.json {
                    switch result.status {
                    case .ok: output.say("ok      \(manifest.id)  \(raw: deep ? "deep" : "checksum")")
                    case .failed: print(Line("FAILED  \(manifest.id)  \(result.problems.joined(separator: "; "))").text)
                    case .gone: print(Line("GONE    \(manifest.id)  \(result.problems.joined(separator: "; "))").text)
                    case .cannotDecrypt: print(Line("NO KEY  \(manifest.id)  stored file intact; not decrypted: no identity given opens it").text)
                    case .unreadable: print(Line("ERROR   \(manifest.id)  could not be read: \(result.problems.joined(separator: "; "))").text)
                    }
                    for note in result.notes { output.note("        \(manifest.id): \(note)") }
                    if result.status != .cannotDecrypt {
                        for item in result.notChecked { output.note("        \(manifest.id): not checked: \(item)") }
                    }
                }
            }
            // Manifests that cannot be read are damage too (a complete manifest is written atomically).
            let unreadable = ids.isEmpty ? scan.problems.filter { $0.file.hasSuffix(".json") } : []
            let failed = results.filter { $0.status == .failed }.count + unreadable.count
            let gone = results.filter { $0.status == .gone }.count
            let locked = results.filter { $0.status == .cannotDecrypt }
            let unread = results.filter { $0.status == .unreadable }
            let nothing = results.isEmpty && unreadable.isEmpty
            if output.json {
                output.emit(VerifyJSON(
                    store: store.location, database: database, deep: deep, ok: !nothing && failed == 0 && gone == 0 && locked.isEmpty && unread.isEmpty,
                    snapshots: results.map {
                        .init(id: $0.manifest.id, status: $0.status == .cannotDecrypt ? "cannot_decrypt" : $0.status == .unreadable ? "unreadable" : "\($0.status)", problems: $0.problems, notChecked: $0.notChecked, notes: $0.notes)
                    },
                    unreadable: unreadable.map { FileProblemJSON(file: $0.file, reason: $0.reason) }))
            } else {
                for problem in unreadable { print(Line("FAILED  \(problem.file)  \(problem.reason)").text) }
            }
            if failed > 0 {
                if !output.json { output.note("\(raw: String(failed)) of \(raw: String(results.count + unreadable.count)) failed verification") }
                throw ExitCode(ExitStatus.verificationFailed.rawValue)
            }
            if nothing {
                throw session.fail(BackstopError.snapshotNotFound(
                    database.map { "there are no snapshots of \($0) in \(store.location): nothing was verified" }
                        ?? "there are no snapshots in \(store.location): nothing was verified", remedy: nil))
            }
            if !unread.isEmpty {
                if !output.json { output.note("\(raw: String(unread.count)) snapshot\(raw: unread.count == 1 ? "" : "s") could not be read: not damage, and not checked") }
                throw ExitCode(ExitStatus.failure.rawValue)
            }
            if let first = locked.first {
                throw session.fail(BackstopError.cannotDecrypt(
                    id: first.manifest.id, recipients: first.manifest.encryption?.recipients ?? [], tried: store.keys.identitySources,
                    reason: "\(locked.count) encrypted snapshot\(locked.count == 1 ? " was" : "s were") only checked as stored: --deep needs a key that decrypts them"))
            }
            if gone > 0 {
                if !output.json { output.note("\(raw: String(gone)) snapshot\(raw: gone == 1 ? " was" : "s were") removed (pruned?) while verify ran") }
                throw ExitCode(ExitStatus.notFound.rawValue)
            }
        }
    }
}
