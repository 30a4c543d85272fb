import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct ListCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every complete snapshot in the store, in the order they were taken.",
            discussion: reflow("""
            Shows each snapshot's id, time (UTC and local), kind, label, original and compressed size, schema
            version, the result of the check run when it was taken, its pin, and its database. A snapshot dated
            in the future (taken while a clock was wrong) is marked "(future)"; the order is the store's commit
            order, which no clock changes. Files that are not complete snapshots are never listed.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var source: SourceOptions
        @OptionGroup var outputOptions: OutputOptions

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: false)
            guard source.from != nil || FileSystem.isDirectory(resolved.store) else {
                if output.json { output.emit(ListJSON(store: FileSystem.absolute(resolved.store), snapshots: [], notListed: [])) }
                else { output.say("No snapshots: there is no store at \(resolved.store) yet.") }
                return
            }
            let store = try session.openSource(resolved, from: source.from, options: target)
            let (snapshots, problems) = try store.scan()
            let aliases = try store.aliases()
            let now = Date()
            let identities = snapshots.map { SnapshotStore.identity(of: $0.database, aliases: aliases) }
            if output.json {
                output.emit(ListJSON(store: store.location, snapshots: zip(snapshots, identities).map { SnapshotJSON($0, databaseNow: $1, now: now) },
                                     notListed: problems.map { FileProblemJSON(file: $0.file, reason: $0.reason) }))
                return
            }
            let databases = Set(identities)
            if snapshots.isEmpty {
                output.say("No snapshots in \(store.location).")
            } else {
                output.say(databases.count == 1 ? "Snapshots of \(databases.first!) in \(store.location):\n" : "Snapshots in \(store.location):\n")
                let showsApp = snapshots.contains { $0.appMigrations != nil }
                let showsEncryption = snapshots.contains { $0.encryption != nil }
                var table = TextTable(headers: ["ID", "CREATED (UTC)", "LOCAL", "KIND", "SIZE", "STORED"] + (showsEncryption ? ["ENCRYPTED"] : [])
                                      + ["SCHEMA"] + (showsApp ? ["APP"] : [])
                                      + ["CHECK", "PINNED", "LABEL"] + (databases.count > 1 ? ["DATABASE"] : []))
                for (manifest, identity) in zip(snapshots, identities) {
                    let date = manifest.createdDate
                    let created: String = String(Timestamp.rfc3339(date).prefix(19)).replacingOccurrences(of: "T", with: " ")
                        + (manifest.isFutureDated(now: now) ? " (future)" : "")
                    var row: [String] = [manifest.id, created, Timestamp.local(date), manifest.kind.rawValue, ByteCount.format(manifest.dbBytes),
                                         ByteCount.format(manifest.compressedBytes)]
                    if showsEncryption { row.append(Words.encryption(manifest.encryption)) }
                    row.append(manifest.schemaVersion.map(String.init) ?? "-")
                    if showsApp { row.append(AppWords.short(manifest.appMigrations)) }
                    let pinned: String = manifest.pinned ? "yes" + (manifest.pinNote.map { " (\($0))" } ?? "") : ""
                    row += [Words.check(manifest.check), pinned, manifest.label ?? ""]
                    if databases.count > 1 { row.append(identity) }
                    table.append(row)
                }
                output.say(table.render())
                let moved = zip(snapshots, identities).filter { $0.database != $1 }
                if !moved.isEmpty {
                    output.say("\n\(raw: String(moved.count)) of them were taken at \(Set(moved.map(\.0.database)).sorted().joined(separator: ", ")) before the database moved (adopted).")
                }
                let future = snapshots.filter { $0.isFutureDated(now: now) }
                if !future.isEmpty {
                    output.warn("\(raw: String(future.count)) snapshot\(raw: future.count == 1 ? " is" : "s are") dated in the future (\(future.map(\.id).joined(separator: ", "))): the clock of the machine that took \(raw: future.count == 1 ? "it" : "them") was wrong; --latest and rollback go by the order snapshots were taken, not by their dates")
                }
                let failed = snapshots.filter { $0.check?.failed == true }
                if !failed.isEmpty {
                    output.warn("\(raw: String(failed.count)) snapshot\(raw: failed.count == 1 ? " was" : "s were") taken of a database that failed its check (CHECK FAILED): \(failed.map(\.id).joined(separator: ", "))")
                }
            }
            for problem in problems {
                output.note("not listed: \(problem.file): \(problem.reason)")
            }
            // A database given that none of these snapshots are of (it moved, or the store is another's).
            if !resolved.database.isEmpty, !snapshots.isEmpty {
                let database = FileSystem.absolute(resolved.database)
                if !identities.contains(database) {
                    let (message, hint, _) = Words.error(try store.noSnapshots(of: database), session.context)
                    output.note("note: \(message)")
                    if let hint { output.note("hint: \(hint)") }
                }
            }
        }
    }
}
