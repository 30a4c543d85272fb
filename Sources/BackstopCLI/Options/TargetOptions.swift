import ArgumentParser
import BackstopKit
import Foundation

/// `--config`, `--database`, `--db`, `--store`: which database and store a command works on.
struct TargetOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Configuration file. Default: backstop.toml in the working directory, if present.", valueName: "file"))
    var config: String?

    @Option(name: .customLong("database"), help: ArgumentHelp("A database named in the configuration file ([databases.NAME]). Default: none.", valueName: "name"))
    var databaseName: String?

    @Option(help: ArgumentHelp("The SQLite database. Default: the --database entry, then $BACKSTOP_DB, then db in backstop.toml.", valueName: "path"))
    var db: String?

    @Option(help: ArgumentHelp("The snapshot store. Default: the --database entry's store, then $BACKSTOP_STORE, then store in backstop.toml (for its own database), then a folder beside the database named after it (app.db.backstop).", valueName: "dir"))
    var store: String?

    @Option(name: .customLong("identity"), help: ArgumentHelp("An age identity file that decrypts encrypted snapshots (repeatable). Default: $BACKSTOP_IDENTITY, then identity in backstop.toml.", valueName: "file"))
    var identityFiles: [String] = []

    @Option(name: .customLong("passphrase-file"), help: ArgumentHelp("A file whose first line is the passphrase of passphrase-encrypted snapshots. Default: $BACKSTOP_PASSPHRASE_FILE, then passphrase_file in backstop.toml.", valueName: "file"))
    var passphraseFile: String?

    func configuration() throws -> Configuration { try Configuration.discover(explicit: config) }

    func overrides(migrations: String? = nil, policy: String? = nil) -> Target.Overrides {
        Target.Overrides(databaseName: databaseName, db: db, store: store, migrations: migrations, policy: policy,
                         identityFiles: identityFiles, passphraseFile: passphraseFile)
    }

    /// The database, store and folders after flags, --database, environment and configuration file.
    func resolve(_ session: Session, requireDatabase: Bool = true, requireStore: Bool = true, migrations: String? = nil,
                 policy: String? = nil) throws -> Target {
        let target = try Target.resolve(overrides(migrations: migrations, policy: policy), configuration: try configuration(),
                                        requireDatabase: requireDatabase)
        if requireStore && target.store.isEmpty {
            throw BackstopError.invalidInput("which store? Give --store DIR or --db PATH (the store defaults to PATH.backstop)")
        }
        session.use(target)
        return target
    }

    /// Every database the configuration names, for --all.
    func resolveAll(migrations: String? = nil, policy: String? = nil) throws -> [Target] {
        if db != nil || databaseName != nil {
            throw ValidationError("'--all' runs over every database in the configuration; give no '--db' or '--database' with it")
        }
        let configuration = try configuration()
        guard configuration.file != nil else {
            throw BackstopError.invalidInput("--all needs a configuration file naming the databases (backstop.toml, or --config FILE)")
        }
        return try Target.all(overrides(migrations: migrations, policy: policy), configuration: configuration)
    }
}

extension Session {
    /// Opens the target's store (creating it when `create`), telling the user when others can read it.
    func openStore(_ target: Target, create: Bool) throws -> SnapshotStore {
        let store = try SnapshotStore(path: target.store, create: create, keys: try keys(target))
        if let mode = store.modeReadableByOthers { output.notifier(.storeReadableByOthers(path: store.path, mode: mode)) }
        return store
    }

    /// The target's keys, read from their files.
    func keys(_ target: Target) throws -> SnapshotKeys { try target.keys.load() }
}
