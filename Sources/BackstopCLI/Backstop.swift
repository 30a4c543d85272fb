import ArgumentParser
import BackstopKit
import Foundation

/// The `backstop` command: keeps SQLite databases safe through schema migrations.
public struct Backstop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "backstop",
        abstract: "Keep SQLite databases safe through schema migrations: online snapshots, point-in-time restore.",
        discussion: reflow("""
        Every command takes --db PATH and --store DIR (or --database NAME from backstop.toml, or $BACKSTOP_DB
        and $BACKSTOP_STORE). Without --store, snapshots go to a folder beside the database named after it
        (app.db.backstop).

        \(ExitStatus.helpTable)
        """),
        version: BackstopVersion.current,
        groupedSubcommands: [
            CommandGroup(name: "Snapshots", subcommands: [
                SnapshotCommand.self, ListCommand.self, ShowCommand.self, VerifyCommand.self, RestoreCommand.self, QueryCommand.self,
                AdoptCommand.self, JournalCommand.self, KeyCommand.self,
            ]),
            CommandGroup(name: "Migrations", subcommands: [
                StatusCommand.self, CheckCommand.self, MigrateCommand.self, RunCommand.self, HistoryCommand.self, RollbackCommand.self,
                DownCommand.self, BaselineCommand.self, RepairCommand.self, NewCommand.self,
            ]),
            CommandGroup(name: "Retention", subcommands: [
                PruneCommand.self, PinCommand.self, UnpinCommand.self, PolicyCommand.self,
            ]),
            CommandGroup(name: "Row-level recovery", subcommands: [DiffCommand.self, RecoverCommand.self]),
            CommandGroup(name: "Off-site copies", subcommands: [PushCommand.self]),
        ])

    public init() {}

    /// Runs the command line and exits with Backstop's documented exit status.
    public static func runAndExit() -> Never {
        Foundation.exit(run(arguments: Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs `arguments`, printing output and errors; returns the exit status.
    public static func run(arguments: [String]) -> Int32 {
        let command: ParsableCommand
        do {
            command = try parseAsRoot(arguments)
        } catch {
            return reportParseError(error)
        }
        guard let backstopCommand = command as? BackstopCommand else {
            do { var plain = command; try plain.run(); return ExitStatus.success.rawValue } catch { return reportParseError(error) }
        }
        let session = backstopCommand.makeSession()
        do {
            try backstopCommand.run(session)
            return ExitStatus.success.rawValue
        } catch let code as ExitCode {
            return code.rawValue
        } catch let error as ValidationError {
            FileHandle.standardError.write(Data("error: \(error.description)\n".utf8))
            return ExitStatus.usage.rawValue
        } catch {
            return session.report(error).rawValue
        }
    }

    /// Usage errors and help, in the same form as every other error (`error:` on stderr).
    static func reportParseError(_ error: Error) -> Int32 {
        let code = exitCode(for: error)
        if code == .success {
            print(fullMessage(for: error))
            return 0
        }
        var text = fullMessage(for: error)
        if text.hasPrefix("Error: ") { text = "error: " + text.dropFirst("Error: ".count) }
        FileHandle.standardError.write(Data((text + "\n").utf8))
        return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
    }
}
