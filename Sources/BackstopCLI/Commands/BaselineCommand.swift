import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct BaselineCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "baseline",
            abstract: "Adopt a database that other tools already brought to VERSION.",
            discussion: reflow("""
            Records every migration file up to VERSION (and VERSION itself) as applied, without running
            them. Only for a database with no migration history yet; refuses when a file at or below VERSION
            cannot be used (once fixed, it would run on a database that already has it).

            For another tool's layout (drizzle, diesel, golang-migrate, dbmate, goose, Flyway, sqlx), VERSION
            may be left out: what that tool's own history records as applied is adopted. With VERSION, the
            tool's history gets the rows it lacks, so that both agree.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: ArgumentHelp("The version the database is at. Default, for another tool's layout: what its history records.", valueName: "version"))
        var version: String?

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store, layout: migrations.format, keys: try session.keys(resolved))
            var number: Int64?
            if let version {
                guard let found = migrator.directory.version(named: version) else {
                    throw BackstopError.invalidInput("'\(version)' is not a version: give the number the migration files start with")
                }
                number = found
            }
            let entries = try migrator.baseline(version: number, lockWait: lock.lockWait, notify: output.notifier)
            let adopted = entries.map(\.version).max().flatMap { v in migrator.directory.files.first { $0.version == v }?.shownVersion ?? String(v) } ?? "none"
            if output.json { output.emit(BaselineJSON(database: migrator.database, recorded: entries.map(AppliedJSON.init))); return }
            output.say("Recorded \(raw: String(entries.count)) migration\(raw: entries.count == 1 ? "" : "s") as applied (baseline \(adopted)) in \(migrator.database); nothing was run.")
        }
    }
}
