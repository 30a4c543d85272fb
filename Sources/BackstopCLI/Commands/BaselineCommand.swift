import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct BaselineCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "baseline",
            abstract: "Adopt a database that other tools already brought to VERSION.",
            discussion: """
            Records every migration file up to VERSION (and VERSION itself) as applied, without running
            them. Only for a database with no migration history yet.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: "The version the database is at.")
        var version: Int64

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(migrations: migrations.dir)
            let migrator = try Migrator(database: resolved.database, migrations: resolved.migrations, store: resolved.store)
            let entries = try migrator.baseline(version: version, lockWait: lock.lockWait)
            if output.json { output.emitJSON(entries.map(\.jsonObject)); return }
            output.say("Recorded \(migrator.database) as being at version \(version) (\(entries.count) entr\(entries.count == 1 ? "y" : "ies"), nothing run).")
        }
    }

    struct NewCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Create the next numbered migration file from a commented template.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var target: TargetOptions
        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: "What the migration does, e.g. \"add invoice totals\".")
        var name: String

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: false, requireStore: false, migrations: migrations.dir)
            let path = try MigrationDirectory.createNext(in: resolved.migrations, name: name)
            if output.json { output.emitJSON(["file": path]); return }
            output.say(path)
        }
    }
}
