import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct JournalCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "journal",
            abstract: "Show what Backstop did to the databases of a store: who, when, from which snapshot.",
            discussion: reflow("""
            The store keeps a journal (journal.jsonl) of every change Backstop made: snapshots taken on
            request, restores, rollbacks, recoveries, migrations, down migrations, baselines, repairs, prunes,
            pins and adoptions, with the time, the user and host, the snapshot acted on and the safety snapshot
            taken first. Unlike a database's migration history, it survives the restores it records.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        @Flag(help: "Every database in the store, not only --db's.")
        var all = false

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: false)
            guard FileSystem.isDirectory(resolved.store) else { throw BackstopError.snapshotNotFound("there is no snapshot store at \(resolved.store)") }
            let store = try session.openStore(resolved, create: false)
            let database = all || resolved.database.isEmpty ? nil : resolved.database
            let aliases = try store.aliases()
            let entries = try store.journal().filter { entry in
                guard let database else { return true }
                guard let subject = entry.database else { return true }
                return SnapshotStore.identity(of: subject, aliases: aliases) == database
            }
            if output.json { output.emit(JournalJSON(store: store.path, database: database, entries: entries)); return }
            if entries.isEmpty { output.say("The journal of \(store.path) has no entries\(raw: database == nil ? "" : " for this database")."); return }
            var table = TextTable(headers: ["TIME (UTC)", "ACTION", "BY", "SNAPSHOT", "SAFETY SNAPSHOT", "DETAILS"] + (database == nil ? ["DATABASE"] : []))
            for entry in entries {
                var row = [String(entry.time.prefix(19)).replacingOccurrences(of: "T", with: " "), entry.action.rawValue,
                           "\(entry.user)@\(entry.host)", entry.snapshot ?? "-", entry.safetySnapshot ?? "-", entry.details ?? ""]
                if database == nil { row.append(entry.database ?? "(store)") }
                table.append(row)
            }
            output.say(table.render())
        }
    }
}
