import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct BaselineCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "baseline",
            abstract: "Adopt a database that other tools already brought to VERSION.",
            discussion: """
            Records every migration file up to VERSION (and VERSION itself) as applied, without running
            them. Only for a database with no migration history yet; refuses when a file at or below VERSION
            cannot be used (once fixed, it would run on a database that already has it).

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: "The version the database is at.")
        var version: Int64

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
            let entries = try migrator.baseline(version: version, lockWait: lock.lockWait, notify: output.notifier)
            if output.json { output.emit(BaselineJSON(database: migrator.database, recorded: entries.map(AppliedJSON.init))); return }
            output.say("Recorded \(raw: String(entries.count)) migration\(raw: entries.count == 1 ? "" : "s") as applied (baseline \(String(version))) in \(migrator.database); nothing was run.")
        }
    }
}
