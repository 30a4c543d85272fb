import ArgumentParser
import BackstopKit
import Foundation

/// `--config`, `--database`, `--db`, `--store`: which database and store a command works on.
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Configuration file.", discussion: "Default: backstop.toml in the working directory, if present.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("database"), help: ArgumentHelp("A database named in the configuration file ([databases.NAME]).", valueName: "name"))
    var databaseName: String?

    @Option(help: ArgumentHelp("The SQLite database. Default: $BACKSTOP_DB, then db in backstop.toml.", valueName: "path"))
    var db: String?

    @Option(help: ArgumentHelp("The snapshot store. Default: $BACKSTOP_STORE, then store in backstop.toml, then a folder beside the database named after it (app.db.backstop).", valueName: "dir"))
    var store: String?

    /// The database, store and folders after flags, environment and configuration file.
    func resolve(requireDatabase: Bool = true, requireStore: Bool = true, migrations: String? = nil, policy: String? = nil) throws -> Target {
        let configuration = try Configuration.discover(explicit: config)
        let target = try Target.resolve(
            Target.Overrides(databaseName: databaseName, db: db, store: store, migrations: migrations, policy: policy),
            configuration: configuration, requireDatabase: requireDatabase)
        if requireStore && target.store.isEmpty {
            throw BackstopError.invalidInput("which store? Give --store DIR or --db PATH (the store defaults to PATH.backstop)")
        }
        return target
    }

    /// Opens the target's store (creating it when `create`).
    func openStore(_ target: Target, create: Bool) throws -> SnapshotStore {
        try SnapshotStore(path: target.store, create: create)
    }
}

/// `--json` and `--quiet`.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON for scripts.")
    var json = false

    @Flag(name: [.short, .long], help: "Print nothing but errors (for cron).")
    var quiet = false

    var output: Output { Output(json: json, quiet: quiet) }
}

/// `--lock-wait`.
struct LockOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Seconds to wait for a store or database locked by another run before giving up with exit status 5. Default: 30.", valueName: "seconds"))
    var lockWait: Double = 30

    func validate() throws {
        guard lockWait >= 0 else { throw ValidationError("'--lock-wait' must be zero or more seconds") }
    }
}

/// `--dir`: the migrations folder.
struct MigrationsOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The migrations folder. Default: migrations in backstop.toml, then ./migrations.", valueName: "dir"))
    var dir: String?
}

/// `--ignore-guard`.
struct GuardOptions: ParsableArguments {
    @Flag(help: "Run even when a guard.sql query returns rows (for example sessions still running).")
    var ignoreGuard = false
}

/// `--yes`.
struct ConfirmOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "Do not ask for confirmation (required when standard input is not a terminal).")
    var yes = false

    /// Shows `description` (also with --yes, so the warning is always seen), then asks, or requires --yes
    /// when nobody can be asked. Throws `refused` otherwise.
    func confirm(_ description: String, question: String, action: String, output: Output) throws {
        if yes {
            if !description.isEmpty { output.note(description) }
            return
        }
        guard Output.stdinIsTerminal else {
            throw BackstopError.refused("\(action) needs confirmation; nothing was changed",
                                        hint: "add --yes to confirm (standard input is not a terminal, so Backstop cannot ask)")
        }
        FileHandle.standardError.write(Data((description + "\n").utf8))
        guard Output.confirm(question) else { throw BackstopError.refused("cancelled; nothing was changed", hint: "") }
    }
}
