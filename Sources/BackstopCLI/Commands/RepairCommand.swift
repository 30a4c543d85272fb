import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct RepairCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "repair",
            abstract: "Accept intentionally edited applied migrations: record their new checksums.",
            discussion: reflow("""
            For every applied migration whose file changed since it was applied, records the file's new
            checksum in the history and keeps the old one (history --json shows both), in one transaction.
            Nothing runs. 'check' and 'migrate' are then clean, without --allow-changed on every run.
            Use it when a comment or formatting was edited, or a fix was applied by hand; a changed migration
            that should run again needs a new migration instead.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store, layout: migrations.format, keys: try session.keys(resolved))
            let repaired = try migrator.repair(lockWait: lock.lockWait, notify: output.notifier)
            if output.json {
                output.emit(RepairJSON(database: migrator.database, repaired: repaired.map {
                    .init(version: $0.version, name: $0.name, file: $0.file, oldChecksum: $0.oldChecksum, newChecksum: $0.newChecksum)
                }))
                return
            }
            if repaired.isEmpty { output.say("Nothing to repair: every applied migration's file matches its recorded checksum."); return }
            output.say("Accepted the edits of \(raw: String(repaired.count)) applied migration\(raw: repaired.count == 1 ? "" : "s") (nothing was run):")
            for item in repaired {
                output.say("  \(item.displayName): checksum \(String(item.oldChecksum.prefix(12)))... -> \(String(item.newChecksum.prefix(12)))... (\(item.file))")
            }
        }
    }
}
