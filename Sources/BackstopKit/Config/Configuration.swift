import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// `backstop.toml`: where the database, its store, its migrations and its retention policy are.
///
/// ```toml
/// db = "app.db"                # or name several databases:
/// store = "backups/app"
/// migrations = "migrations"
/// policy = "policies/default.toml"
///
/// [databases.accounts]
/// db = "accounts.db"
/// ```
/// Relative paths are relative to the file's folder. Flags override the environment
/// (`BACKSTOP_DB`, `BACKSTOP_STORE`), which overrides the file.
public struct Configuration: Sendable {
    public struct Entry: Sendable, Equatable {
        public var db: String?
        public var store: String?
        public var migrations: String?
        public var policy: String?
        public init(db: String? = nil, store: String? = nil, migrations: String? = nil, policy: String? = nil) {
            self.db = db; self.store = store; self.migrations = migrations; self.policy = policy
        }
    }

    public static let fileName = "backstop.toml"
    static let keys: Set<String> = ["db", "store", "migrations", "policy"]

    public var file: String?
    public var defaults: Entry
    public var databases: [String: Entry]

    public init(file: String? = nil, defaults: Entry = Entry(), databases: [String: Entry] = [:]) {
        self.file = file
        self.defaults = defaults
        self.databases = databases
    }

    /// Loads `explicit` (which must exist), or `backstop.toml` in `directory` if there is one.
    public static func discover(explicit: String?, directory: String = FileManager.default.currentDirectoryPath) throws -> Configuration {
        if let explicit {
            let path = FileSystem.absolute(explicit)
            guard FileSystem.exists(path) else { throw BackstopError.invalidInput("the configuration file \(path) does not exist") }
            return try load(path: path)
        }
        let candidate = (directory as NSString).appendingPathComponent(fileName)
        return FileSystem.exists(candidate) ? try load(path: FileSystem.absolute(candidate)) : Configuration()
    }

    public static func load(path: String) throws -> Configuration {
        let document = try TOMLDocument.load(path: path)
        let base = (path as NSString).deletingLastPathComponent
        var configuration = Configuration(file: path)
        for table in document.tables {
            if table.name == "" || table.name.hasPrefix("databases.") {
                var entry = Entry()
                for item in table.entries {
                    guard keys.contains(item.key) else {
                        throw BackstopError.invalidInput("\(path):\(item.line): unknown key '\(item.key)'; expected one of db, store, migrations, policy")
                    }
                    guard case .string(let value) = item.value, !value.isEmpty else {
                        throw BackstopError.invalidInput("\(path):\(item.line): '\(item.key)' must be a non-empty string (a path)")
                    }
                    let absolute = FileSystem.absolute(value, relativeTo: base)
                    switch item.key {
                    case "db": entry.db = absolute
                    case "store": entry.store = absolute
                    case "migrations": entry.migrations = absolute
                    default: entry.policy = absolute
                    }
                }
                if table.name == "" { configuration.defaults = entry }
                else {
                    let name = String(table.name.dropFirst("databases.".count))
                    guard !name.isEmpty, !name.contains(".") else {
                        throw BackstopError.invalidInput("\(path):\(table.line): invalid database name in [\(table.name)]")
                    }
                    configuration.databases[name] = entry
                }
            } else if table.name == "databases" {
                if let item = table.entries.first {
                    throw BackstopError.invalidInput("\(path):\(item.line): put each database in its own [databases.NAME] table")
                }
            } else {
                throw BackstopError.invalidInput("\(path):\(table.line): unknown table [\(table.name)]; expected [databases.NAME]")
            }
        }
        return configuration
    }
}

/// The database, store, migrations folder and policy that a command works on, after applying
/// flags, environment and configuration file in that order.
public struct Target: Sendable, Equatable {
    public var name: String?
    public var database: String
    public var store: String
    public var migrations: String
    public var policy: String?
    /// True when the migrations folder was given (a flag or the configuration), false for the default
    /// ./migrations.
    public var migrationsConfigured: Bool = true

    public struct Overrides: Sendable {
        public var databaseName: String?
        public var db: String?
        public var store: String?
        public var migrations: String?
        public var policy: String?
        public init(databaseName: String? = nil, db: String? = nil, store: String? = nil, migrations: String? = nil, policy: String? = nil) {
            self.databaseName = databaseName; self.db = db; self.store = store; self.migrations = migrations; self.policy = policy
        }
    }

    /// Resolves the target, each setting from the most explicit place that gives it: flags (`db`, `store`
    /// ...), then the configuration's entry chosen by name (which inherits the file's top-level keys), then
    /// the environment (`BACKSTOP_DB`, `BACKSTOP_STORE`), then the file's top-level keys (or its only named
    /// database). A store configured in the file is used only for the file's database. Throws a usage error
    /// naming what is missing.
    public static func resolve(_ overrides: Overrides, configuration: Configuration,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               requireDatabase: Bool = true) throws -> Target {
        var named: Configuration.Entry?
        if let name = overrides.databaseName {
            guard let entry = configuration.databases[name] else {
                throw BackstopError.unknownDatabaseName(name, configuration: configuration.file, known: configuration.databases.keys.sorted())
            }
            named = Configuration.Entry.merge(entry, over: configuration.defaults)
        }
        var file = configuration.defaults
        if named == nil, file.db == nil, configuration.databases.count == 1, let only = configuration.databases.first {
            file = Configuration.Entry.merge(only.value, over: file)
        }
        let env = { (key: String) -> String? in environment[key].flatMap { $0.isEmpty ? nil : FileSystem.absolute($0) } }
        let flagDB = overrides.db.map { FileSystem.absolute($0) }
        let database = flagDB ?? named?.db ?? env("BACKSTOP_DB") ?? file.db
        let fileGaveDatabase = flagDB == nil && named?.db == nil && env("BACKSTOP_DB") == nil && file.db != nil
        let configuredStore = overrides.store.map { FileSystem.absolute($0) } ?? (flagDB == nil ? named?.store : nil)
            ?? env("BACKSTOP_STORE") ?? (fileGaveDatabase ? file.store : nil)
        let configuredMigrations = overrides.migrations.map { FileSystem.absolute($0) } ?? named?.migrations ?? file.migrations
        let migrations = configuredMigrations ?? FileSystem.absolute("migrations")
        let policy = overrides.policy.map { FileSystem.absolute($0) } ?? named?.policy ?? file.policy
        guard let database else {
            if !requireDatabase {
                return Target(name: overrides.databaseName, database: "", store: configuredStore ?? file.store ?? "",
                              migrations: migrations, policy: policy, migrationsConfigured: configuredMigrations != nil)
            }
            throw BackstopError.noDatabase(configured: configuration.databases.keys.sorted())
        }
        return Target(name: overrides.databaseName, database: database,
                      store: configuredStore ?? SnapshotStore.defaultPath(forDatabase: database), migrations: migrations, policy: policy,
                      migrationsConfigured: configuredMigrations != nil)
    }

    /// Every database the configuration names (the top-level one first, then each named one, by name),
    /// resolved as if chosen one by one; flags other than the database's own still apply.
    public static func all(_ overrides: Overrides, configuration: Configuration,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [Target] {
        var targets: [Target] = []
        if configuration.defaults.db != nil {
            var top = overrides
            top.databaseName = nil
            targets.append(try resolve(top, configuration: Configuration(file: configuration.file, defaults: configuration.defaults),
                                       environment: [:]))
        }
        for name in configuration.databases.keys.sorted() {
            var one = overrides
            one.databaseName = name
            targets.append(try resolve(one, configuration: configuration, environment: [:]))
        }
        guard !targets.isEmpty else { throw BackstopError.noDatabase(configured: []) }
        return targets
    }
}

extension Configuration.Entry {
    static func merge(_ specific: Configuration.Entry, over general: Configuration.Entry) -> Configuration.Entry {
        Configuration.Entry(db: specific.db ?? general.db, store: specific.store ?? general.store,
                            migrations: specific.migrations ?? general.migrations, policy: specific.policy ?? general.policy)
    }
}
