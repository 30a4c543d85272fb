import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import BackstopRemote
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
/// recipients = ["age1…"]        # encrypt its snapshots (or recipients_file, or passphrase_file)
/// identity = "/etc/backstop/accounts.key"
/// ```
/// Relative paths are relative to the file's folder. Flags override the environment
/// (`BACKSTOP_DB`, `BACKSTOP_STORE`), which overrides the file.
public struct Configuration: Sendable {
    public struct Entry: Sendable, Equatable {
        public var db: String?
        public var store: String?
        public var migrations: String?
        public var policy: String?
        /// age public keys that new snapshots are encrypted to.
        public var recipients: [String]?
        public var recipientsFile: String?
        /// Encrypts new snapshots with this passphrase, and decrypts with it.
        public var passphraseFile: String?
        public var passphraseWorkFactor: Int?
        /// Identity files that decrypt snapshots.
        public var identity: [String]?
        /// Names of `[replicas.NAME]` tables that its snapshots are copied to.
        public var replicas: [String]?
        public init(db: String? = nil, store: String? = nil, migrations: String? = nil, policy: String? = nil) {
            self.db = db; self.store = store; self.migrations = migrations; self.policy = policy
        }

        /// Its encryption keys, as one value.
        var encryption: EncryptionEntry {
            get {
                EncryptionEntry(recipients: recipients, recipientsFile: recipientsFile, passphraseFile: passphraseFile,
                                passphraseWorkFactor: passphraseWorkFactor, identity: identity)
            }
            set {
                recipients = newValue.recipients; recipientsFile = newValue.recipientsFile; passphraseFile = newValue.passphraseFile
                passphraseWorkFactor = newValue.passphraseWorkFactor; identity = newValue.identity
            }
        }
    }

    public static let fileName = "backstop.toml"
    static let keys: Set<String> = Set(["db", "store", "migrations", "policy", "replicas"]).union(EncryptionEntry.keys)

    public var file: String?
    public var defaults: Entry
    public var databases: [String: Entry]
    /// `[replicas.NAME]` tables.
    public var replicas: [String: ReplicaSettings] = [:]

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

    static let keyList = "db, store, migrations, policy, recipients, recipients_file, passphrase_file, passphrase_work_factor, identity, replicas"

    /// A string, or an array of non-empty strings.
    static func strings(_ value: TOMLValue, at: String, key: String, what: String) throws -> [String] {
        switch value {
        case .string(let one) where !one.isEmpty: return [one]
        case .array(let items) where !items.isEmpty:
            return try items.map {
                guard case .string(let one) = $0, !one.isEmpty else {
                    throw BackstopError.invalidInput("\(at): '\(key)' must be a list of \(what)")
                }
                return one
            }
        default: throw BackstopError.invalidInput("\(at): '\(key)' must be a list of \(what)")
        }
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
                        throw BackstopError.invalidInput("\(path):\(item.line): unknown key '\(item.key)'; expected one of \(keyList)")
                    }
                    let at = "\(path):\(item.line)"
                    if try entry.encryption.parse(item, at: at, base: base) { continue }
                    switch item.key {
                    case "replicas":
                        entry.replicas = try strings(item.value, at: at, key: item.key, what: "names of [replicas.NAME] tables")
                    default:
                        guard case .string(let value) = item.value, !value.isEmpty else {
                            throw BackstopError.invalidInput("\(at): '\(item.key)' must be a non-empty string (a path)")
                        }
                        let absolute = FileSystem.absolute(value, relativeTo: base)
                        switch item.key {
                        case "db": entry.db = absolute
                        case "store": entry.store = absolute
                        case "migrations": entry.migrations = absolute
                        default: entry.policy = absolute
                        }
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
            } else if table.name.hasPrefix("replicas.") {
                let name = String(table.name.dropFirst("replicas.".count))
                guard !name.isEmpty, !name.contains("."), name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                    throw BackstopError.invalidInput("\(path):\(table.line): invalid replica name in [\(table.name)] (letters, digits, '-', '_')")
                }
                configuration.replicas[name] = try replica(name, table, path: path, base: base)
            } else if table.name == "databases" || table.name == "replicas" {
                if let item = table.entries.first {
                    throw BackstopError.invalidInput("\(path):\(item.line): put each database in its own [databases.NAME] table")
                }
            } else {
                throw BackstopError.invalidInput("\(path):\(table.line): unknown table [\(table.name)]; expected [databases.NAME] or [replicas.NAME]")
            }
        }
        for (name, entry) in [("", configuration.defaults)] + configuration.databases.sorted(by: { $0.key < $1.key }).map({ ($0.key, $0.value) }) {
            for replica in entry.replicas ?? [] where configuration.replicas[replica] == nil {
                throw BackstopError.invalidInput("\(path): \(name.isEmpty ? "'replicas'" : "[databases.\(name)] 'replicas'") names '\(replica)', but there is no [replicas.\(replica)]"
                                                 + (configuration.replicas.isEmpty ? "" : " (there are \(configuration.replicas.keys.sorted().joined(separator: ", ")))"))
            }
        }
        return configuration
    }

    static func replica(_ name: String, _ table: TOMLDocument.Table, path: String, base: String) throws -> ReplicaSettings {
        var settings = ReplicaSettings(name: name, url: "")
        for item in table.entries {
            let at = "\(path):\(item.line)"
            guard ReplicaSettings.keys.contains(item.key) else {
                throw BackstopError.invalidInput("\(at): unknown key '\(item.key)' in [replicas.\(name)]; expected one of \(ReplicaSettings.keys.sorted().joined(separator: ", "))")
            }
            if try settings.encryption.parse(item, at: at, base: base) { continue }
            if item.key == "path_style" {
                guard case .bool(let value) = item.value else { throw BackstopError.invalidInput("\(at): 'path_style' must be true or false") }
                settings.pathStyle = value
                continue
            }
            guard case .string(let value) = item.value, !value.isEmpty else {
                throw BackstopError.invalidInput("\(at): '\(item.key)' must be a non-empty string")
            }
            switch item.key {
            case "url":
                _ = try S3Location(url: value)
                settings.url = value
            case "endpoint": settings.endpoint = value
            case "region": settings.region = value
            case "profile": settings.profile = value
            default: settings.policy = FileSystem.absolute(value, relativeTo: base)
            }
        }
        guard !settings.url.isEmpty else {
            throw BackstopError.invalidInput("\(path):\(table.line): [replicas.\(name)] needs url = \"s3://bucket/prefix\"")
        }
        if settings.encryption.passphraseWorkFactor != nil && settings.encryption.passphraseFile == nil {
            throw BackstopError.invalidInput("\(path):\(table.line): [replicas.\(name)] has passphrase_work_factor but no passphrase_file")
        }
        return settings
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
    /// The store's keys: recipients from the configuration, identities from flags, environment or file.
    public var keys = KeySettings()
    /// Where its snapshots are copied off-site.
    public var replicas: [ReplicaSettings] = []

    public struct Overrides: Sendable {
        public var databaseName: String?
        public var db: String?
        public var store: String?
        public var migrations: String?
        public var policy: String?
        /// `--identity` files (replacing any from the environment or the configuration).
        public var identityFiles: [String] = []
        /// `--passphrase-file`: decrypts only.
        public var passphraseFile: String?
        public init(databaseName: String? = nil, db: String? = nil, store: String? = nil, migrations: String? = nil, policy: String? = nil,
                    identityFiles: [String] = [], passphraseFile: String? = nil) {
            self.databaseName = databaseName; self.db = db; self.store = store; self.migrations = migrations; self.policy = policy
            self.identityFiles = identityFiles; self.passphraseFile = passphraseFile
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
        let env = { (key: String) in path(key, in: environment) }
        let flagDB = overrides.db.map { FileSystem.absolute($0) }
        let database = flagDB ?? named?.db ?? env("BACKSTOP_DB") ?? file.db
        let fileGaveDatabase = flagDB == nil && named?.db == nil && env("BACKSTOP_DB") == nil && file.db != nil
        let configuredStore = overrides.store.map { FileSystem.absolute($0) } ?? (flagDB == nil ? named?.store : nil)
            ?? env("BACKSTOP_STORE") ?? (fileGaveDatabase ? file.store : nil)
        let configuredMigrations = overrides.migrations.map { FileSystem.absolute($0) } ?? named?.migrations ?? file.migrations
        let migrations = configuredMigrations ?? FileSystem.absolute("migrations")
        let policy = overrides.policy.map { FileSystem.absolute($0) } ?? named?.policy ?? file.policy
        let keys = keySettings(overrides, entry: named ?? file, named: named != nil, environment: environment)
        guard let database else {
            if !requireDatabase {
                return Target(name: overrides.databaseName, database: "", store: configuredStore ?? file.store ?? "",
                              migrations: migrations, policy: policy, migrationsConfigured: configuredMigrations != nil, keys: keys)
            }
            throw BackstopError.noDatabase(configured: configuration.databases.keys.sorted())
        }
        var target = Target(name: overrides.databaseName, database: database,
                            store: configuredStore ?? SnapshotStore.defaultPath(forDatabase: database), migrations: migrations, policy: policy,
                            migrationsConfigured: configuredMigrations != nil, keys: keys)
        // Replicas belong to the databases the configuration names (a flag or the environment may name the
        // same file): the entry's list, else the file's, else every [replicas.NAME].
        let entry: Configuration.Entry? = named ?? (fileGaveDatabase || file.db == database ? file
            : configuration.databases.values.first { $0.db == database }.map { Configuration.Entry.merge($0, over: configuration.defaults) })
        if let entry {
            let names = entry.replicas ?? configuration.replicas.keys.sorted()
            target.replicas = names.compactMap { configuration.replicas[$0] }
        }
        return target
    }

    /// The environment variable `key` as an absolute path; nil when unset or empty.
    static func path(_ key: String, in environment: [String: String]) -> String? {
        environment[key].flatMap { $0.isEmpty ? nil : FileSystem.absolute($0) }
    }

    /// Recipients from the chosen entry (a named database's, or the file's); identities and a passphrase
    /// to decrypt with from flags, then the named entry, then `BACKSTOP_IDENTITY` and
    /// `BACKSTOP_PASSPHRASE_FILE`, then the file.
    static func keySettings(_ overrides: Overrides, entry: Configuration.Entry, named: Bool, environment: [String: String]) -> KeySettings {
        var keys = entry.encryption.settings
        keys.identityFiles = []
        let env = { (key: String) in path(key, in: environment) }
        if !overrides.identityFiles.isEmpty {
            keys.identityFiles = overrides.identityFiles.map { FileSystem.absolute($0) }
        } else if named, let files = entry.identity {
            keys.identityFiles = files
        } else if let file = env("BACKSTOP_IDENTITY") {
            keys.identityFiles = [file]
        } else {
            keys.identityFiles = entry.identity ?? []
        }
        // A passphrase given to read with never changes what new snapshots are encrypted to.
        keys.passphraseFile = overrides.passphraseFile.map { FileSystem.absolute($0) } ?? env("BACKSTOP_PASSPHRASE_FILE")
        return keys
    }

    /// Every database the configuration names (the top-level one first, then each named one, by name),
    /// resolved as if chosen one by one; flags other than the database's own still apply.
    public static func all(_ overrides: Overrides, configuration: Configuration,
                           environment: [String: String] = ProcessInfo.processInfo.environment) throws -> [Target] {
        var targets: [Target] = []
        if configuration.defaults.db != nil {
            var top = overrides
            top.databaseName = nil
            var topOnly = Configuration(file: configuration.file, defaults: configuration.defaults)
            topOnly.replicas = configuration.replicas
            targets.append(try resolve(top, configuration: topOnly, environment: [:]))
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
        var merged = Configuration.Entry(db: specific.db ?? general.db, store: specific.store ?? general.store,
                                         migrations: specific.migrations ?? general.migrations, policy: specific.policy ?? general.policy)
        // Whom to encrypt to is one setting: an entry that names any recipient replaces the file's whole.
        merged.encryption = specific.encryption.encrypts ? specific.encryption : general.encryption
        merged.identity = specific.identity ?? general.identity
        merged.replicas = specific.replicas ?? general.replicas
        return merged
    }
}
