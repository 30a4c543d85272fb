import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct AdoptCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "adopt",
            abstract: "Adopt the snapshots a database had under another path (after a move).",
            discussion: reflow("""
            Backstop recognises a database by its absolute path. When a database and its store move together
            (a new host, mount, deploy path or container volume), run this once with the new --db and the store:
            it records in the store (aliases.json) that snapshots taken of OLD-PATH belong to the database now
            at --db. --latest, --at, rollback, retention and list then treat them as its own. The manifests keep
            the path they were taken at. The journal records the adoption.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: ArgumentHelp("The path the database had when its snapshots were taken.", valueName: "old-path"))
        var oldPath: String

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session)
            try Database.checkIsSQLiteFile(resolved.database)
            let store = try session.openStore(resolved, create: false)
            let old = oldPath.hasPrefix("/") ? (oldPath as NSString).standardizingPath : FileSystem.absolute(oldPath)
            guard old != resolved.database else { throw BackstopError.invalidInput("\(old) is the database's own path; there is nothing to adopt") }
            let lock = try store.lock(.exclusive, wait: self.lock.lockWait)
            defer { lock.release() }
            let before = try store.scan().snapshots.filter { $0.database == old }
            guard !before.isEmpty else {
                throw BackstopError.snapshotNotFound("\(store.path) holds no snapshot taken of \(old); nothing was changed")
            }
            try store.adopt(from: old, to: resolved.database)
            try? store.record(JournalEntry(action: .adopt, database: resolved.database, details: "adopted \(before.count) snapshots taken of \(old)"))
            let count = try store.snapshots(ofDatabase: resolved.database).count
            if output.json { output.emit(AdoptJSON(store: store.path, from: old, to: resolved.database, snapshots: count)); return }
            output.say("Snapshots taken of \(old) (\(raw: String(before.count))) now belong to \(resolved.database); it has \(raw: String(count)) in \(store.path).")
        }
    }
}
