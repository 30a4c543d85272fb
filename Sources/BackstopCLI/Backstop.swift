import ArgumentParser
import BackstopKit
import Foundation

/// The `backstop` command: keeps SQLite databases safe through schema migrations.
public struct Backstop: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "backstop",
        abstract: "Keep SQLite databases safe through schema migrations: online snapshots, point-in-time restore.",
        discussion: """
        Every command takes --db PATH and --store DIR (or $BACKSTOP_DB, $BACKSTOP_STORE, or backstop.toml).
        Without --store, snapshots go to a folder beside the database named after it (app.db.backstop).

        \(ExitStatus.helpTable)
        """,
        version: BackstopVersion.current,
        groupedSubcommands: [
            CommandGroup(name: "Snapshots", subcommands: [
                SnapshotCommand.self, ListCommand.self, ShowCommand.self, VerifyCommand.self, RestoreCommand.self,
            ]),
            CommandGroup(name: "Migrations", subcommands: [
                StatusCommand.self, CheckCommand.self, MigrateCommand.self, HistoryCommand.self, RollbackCommand.self,
                DownCommand.self, BaselineCommand.self, NewCommand.self,
            ]),
            CommandGroup(name: "Retention", subcommands: [
                PruneCommand.self, PinCommand.self, UnpinCommand.self, PolicyCommand.self,
            ]),
            CommandGroup(name: "Row-level recovery", subcommands: [DiffCommand.self, RecoverCommand.self]),
        ])

    public init() {}

    /// Runs the command line and exits with Backstop's documented exit status.
    public static func runAndExit() -> Never {
        Foundation.exit(run(arguments: Array(CommandLine.arguments.dropFirst())))
    }

    /// Parses and runs `arguments`, printing output and errors; returns the exit status.
    public static func run(arguments: [String]) -> Int32 {
        Notice.sink = { message in
            if !arguments.contains("--quiet") && !arguments.contains("-q") {
                FileHandle.standardError.write(Data(("note: " + message + "\n").utf8))
            }
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return ExitStatus.success.rawValue
        } catch {
            return report(error, json: arguments.contains("--json"))
        }
    }

    /// Prints an error the way users should see it and returns its exit status.
    static func report(_ error: Error, json: Bool) -> Int32 {
        let status: ExitStatus
        let message: String
        var hint: String?
        switch error {
        case let error as BackstopError:
            status = ExitStatus(error.kind)
            message = error.description
            hint = error.hint
        case let error as DatabaseFileError:
            status = .failure
            message = error.description
            hint = "check --db (or BACKSTOP_DB, or db in backstop.toml)"
        case let error as MigrationFailure:
            status = .migrationFailed
            message = error.description
            hint = error.hint
        case let error as SQLiteError:
            status = .failure
            message = "SQLite: \(error)"
        case let error as ExitCode:
            return error.rawValue
        default:
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                return 0
            }
            let text = fullMessage(for: error)
            FileHandle.standardError.write(Data((text + "\n").utf8))
            return code == .validationFailure ? ExitStatus.usage.rawValue : code.rawValue
        }
        FileHandle.standardError.write(Data(("error: " + message + "\n" + (hint.map { "hint: " + $0 + "\n" } ?? "")).utf8))
        if json {
            var object: [String: Any] = ["error": message, "exit_status": Int(status.rawValue)]
            if let hint { object["hint"] = hint }
            print(JSON.string(object))
        }
        return status.rawValue
    }
}
