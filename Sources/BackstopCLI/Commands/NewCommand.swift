import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct NewCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "new",
            abstract: "Create the next numbered migration file from a commented template.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var migrations: MigrationsOptions
        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: "What the migration does, in a few words (it names the file).")
        var name: String

        func run(_ session: Session) throws {
            let resolved = try target.resolve(session, requireDatabase: false, requireStore: false, migrations: migrations.dir)
            let path = try MigrationDirectory.createNext(in: resolved.migrations, name: name)
            if session.output.json { session.output.emit(NewJSON(file: path)); return }
            session.output.say("\(path)")
        }
    }
}
