import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// The migrations a run will apply.
public struct MigrationPlan: Sendable {
    public var database: String
    public var fromVersion: Int64?
    public var migrations: [MigrationFile]
    /// Flyway's repeatable migrations that run after them (never applied, or changed since).
    public var repeatables: [MigrationFile] = []
    /// Rows whose foreign key pointed at nothing before the run (not the run's doing).
    public var preexistingViolations: Int = 0
    /// Versions in the layout's own words, where they differ from Backstop's numbers (another tool's layout).
    public var versionNames: [Int64: String] = [:]
    /// The highest version the database is at once the plan is applied (an out-of-order migration does not lower it).
    public var toVersion: Int64? { (migrations.map(\.version) + [fromVersion].compactMap { $0 }).max() }

    public init(database: String, fromVersion: Int64?, migrations: [MigrationFile], repeatables: [MigrationFile] = []) {
        self.database = database; self.fromVersion = fromVersion; self.migrations = migrations; self.repeatables = repeatables
    }
}

/// What happened to one migration of a run.
public struct MigrationStep: Sendable {
    public var version: Int64
    /// The version as the layout writes it.
    public var shownVersion: String
    public var name: String
    public var durationMs: Int64
    public var rowsChanged: Int64
}

/// Row counts of one table before and after a rehearsal.
public struct TableCount: Sendable {
    public var table: String
    public var before: Int64?
    public var after: Int64?
}

/// What a `migrate` (or `down`) run did.
public struct MigrationReport: Sendable {
    public var plan: MigrationPlan
    public var steps: [MigrationStep]
    /// The snapshot taken before the run (nil for rehearsals and --no-snapshot).
    public var snapshot: Manifest?
    public var dryRun: Bool
    /// Rehearsals only: row counts per table before and after.
    public var tableCounts: [TableCount]
    public var durationMs: Int64
}

/// Progress of a run, for displays.
public enum MigrationEvent: Sendable {
    case snapshotting
    case applying(MigrationFile, index: Int, count: Int)
    case applied(MigrationStep)
    case checkingForeignKeys
}

/// Applies migrations from a folder to one database, with the safety Backstop promises: the database
/// lock, the guard, drift checks, a pre-migration snapshot, and the whole run in one transaction.
///
/// ```swift
/// let migrator = try Migrator(database: "app.db", migrations: "migrations", store: "app.db.backstop")
/// let report = try migrator.migrate()
/// ```
public final class Migrator {
    public struct Options {
        /// Apply up to and including this version (all pending when nil).
        public var target: Int64?
        /// Problems the run may proceed despite (`--allow-changed` ...).
        public var allowed: Set<MigrationProblem.Kind> = []
        public var ignoreGuard = false
        /// Take a pre-migration snapshot first. Turning this off gives up the way back.
        public var snapshot = true
        /// Rehearse on a private copy; the live database is not touched.
        public var dryRun = false
        public var lockWait: TimeInterval = 30
        public var level: Int = Snapshotter.defaultLevel
        /// Called under the lock with the plan, before anything changes; throw to stop.
        public var confirm: ((MigrationPlan) throws -> Void)?
        public var events: ((MigrationEvent) -> Void)?
        public var snapshotProgress: PhaseProgress?
        /// Receives what is worth telling the user (a lock taken over from a run that died).
        public var notify: Notifier = { _ in }
        /// SQLite extensions to load into the run's connection (for SQL functions the app registers).
        public var extensions: [String] = []
        public init() {}
    }

    public let database: String
    public let directory: MigrationDirectory
    /// Where pre-migration snapshots go; created on the first run that needs it.
    public let storePath: String
    /// The keys the store encrypts snapshots with (and decrypts them with, for automatic restores).
    public var keys: SnapshotKeys

    /// The layout's own history table, written beside Backstop's.
    var toolHistory: ToolHistory { ToolHistory(layout: directory.layout) }

    /// Reads the migrations folder in `layout` (detected from the folder, and from the database's tables
    /// where two tools name files alike, when nil). An existing empty file is an empty database.
    public init(database: String, migrations: String, store: String? = nil, layout: MigrationLayout? = nil,
                keys: SnapshotKeys = SnapshotKeys()) throws {
        self.keys = keys
        self.database = FileSystem.absolute(database)
        var tables: Set<String> = []
        if !FileSystem.isEmptyFile(self.database) {
            try Database.checkIsSQLiteFile(self.database)
            tables = Set(try Database.openForReading(self.database).rows("SELECT name FROM sqlite_schema WHERE type = 'table'").compactMap { $0[0].string })
        }
        self.directory = try MigrationDirectory.load(path: migrations, layout: layout, databaseTables: tables)
        self.storePath = FileSystem.absolute(store ?? SnapshotStore.defaultPath(forDatabase: self.database))
    }

    /// Creates an empty database at `path` for `migrate --create` (refusing to replace anything).
    public static func createDatabase(_ path: String) throws {
        let fd = try FileSystem.createExclusive(FileSystem.absolute(path), mode: 0o644)
        close(fd)
        FileSystem.fsyncDirectory((FileSystem.absolute(path) as NSString).deletingLastPathComponent)
    }

    /// The snapshot store, created (private) if missing.
    public func openStore() throws -> SnapshotStore { try SnapshotStore(path: storePath, create: true, keys: keys) }

    /// Where a database stands when there is no migrations folder (it uses another migrator, or none):
    /// Backstop's own history as recorded, nothing pending. Reads only; takes no lock.
    public static func statusWithoutFolder(database: String) throws -> MigrationStatus {
        let history = try MigrationHistory.read(try Database.openForReading(FileSystem.absolute(database)))
        return MigrationStatus(currentVersion: history.map(\.version).max(), applied: history, pending: [], problems: [])
    }

    /// Where the database stands. Reads only; takes no lock.
    public func status() throws -> MigrationStatus {
        if FileSystem.isEmptyFile(database) { return MigrationStatus.compute(directory: directory, history: []) }
        return try status(on: try Database.openForReading(database))
    }

    func status(on db: Database) throws -> MigrationStatus {
        let tool = toolHistory
        var status = MigrationStatus.compute(directory: directory, history: try MigrationHistory.read(db),
                                             toolApplied: try tool.applied(db, files: directory.files),
                                             toolProblems: try tool.checksumMismatches(db, files: directory.files))
        if directory.layout != .backstop, let app = try AppMigrators.detect(db), app.dirty,
           app.tool == directory.layout.rawValue || (directory.layout == .dbmate && app.tool == "golang-migrate") {
            status.problems.append(MigrationProblem(kind: .toolFailed, version: nil, file: nil,
                                                    message: "\(app.tool) records a failed migration: \(app.problem ?? "see its history table")"))
        }
        return status
    }

    /// Writes the first page of an existing empty database file (a valid empty database), so that it can
    /// be snapshotted and migrated like any other.
    func initializeIfEmpty() throws {
        guard FileSystem.isEmptyFile(database) else { return }
        try Database(path: database, mode: .create).execute("PRAGMA synchronous = EXTRA; BEGIN IMMEDIATE; CREATE TABLE backstop_init(x); DROP TABLE backstop_init; COMMIT")
    }

    /// Opens the live database to change it, and takes its write lock now: an application holding a
    /// write transaction is reported as a lock held by another connection (nothing was changed).
    func openForChange(lockWait: TimeInterval) throws -> Database {
        let db = try Database.openForWriting(database, busyTimeout: lockWait)
        return db
    }

    /// Applies pending migrations. See ``Options``.
    @discardableResult
    public func migrate(_ options: Options = Options()) throws -> MigrationReport {
        let lock = try DatabaseLock.acquire(database, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }

        // Everything below is decided under the lock, so two runs never apply the same migration.
        if !options.dryRun { try initializeIfEmpty() }
        let reader = try Database.openForReading(database, busyTimeout: options.lockWait)
        if !options.ignoreGuard { try Guard.enforce(directory.guardQueries, on: reader, action: options.dryRun ? "rehearsal" : "migration") }
        try toolHistory.checkShape(reader)
        let status = try status(on: reader)
        // A file that cannot be used blocks only the runs that would reach it: --to a version before it runs.
        let reach = options.target ?? Int64.max
        try Migrator.refuseProblems(status.problems.filter { $0.kind != .invalid || ($0.version ?? Int64.min) <= reach || options.target == nil },
                                    allowed: options.allowed)
        var pending = status.pending
        if let target = options.target {
            if let current = status.currentVersion, target < current {
                let store = FileSystem.isDirectory(storePath) ? try openStore() : nil
                let back = try store.flatMap { try Rollback.nearestVersion(atOrBelow: target, database: database, store: $0) }
                throw BackstopError.refused("the database is at version \(current), past the target \(target); migrations only go forward",
                                            remedy: back.map { .rollback(version: $0, target: target) } ?? .listSnapshots)
            }
            if !directory.files.contains(where: { $0.version == target }) && target != status.currentVersion {
                throw BackstopError.invalidInput("there is no migration \(target) in \(directory.path)")
            }
            pending = pending.filter { $0.version <= target }
        }
        let repeatables = try toolHistory.pendingRepeatables(reader, repeatables: directory.repeatables)
        var plan = MigrationPlan(database: database, fromVersion: status.currentVersion, migrations: pending, repeatables: repeatables)
        if directory.layout != .backstop {
            plan.versionNames = Dictionary(directory.files.map { ($0.version, $0.shownVersion) }, uniquingKeysWith: { a, _ in a })
        }
        plan.preexistingViolations = try Checks.foreignKeyViolations(reader).count
        guard !plan.migrations.isEmpty || !plan.repeatables.isEmpty else {
            return MigrationReport(plan: plan, steps: [], snapshot: nil, dryRun: options.dryRun, tableCounts: [], durationMs: 0)
        }
        try options.confirm?(plan)
        // The run's duration starts after the confirmation: time spent at a prompt is not the run's.
        let started = Date()

        if options.dryRun {
            return try rehearse(plan, options: options, started: started)
        }

        // The snapshot is taken inside the run's write transaction: no other write can land between it
        // and the run, so it is exactly the state the run started from.
        var snapshot: Manifest?
        let store = try openStore()
        let db = try openForChange(lockWait: options.lockWait)
        for path in options.extensions { try db.loadExtension(path) }
        let steps = try Migrator.apply(plan, on: db, tool: toolHistory, events: options.events, rehearsal: false) {
            guard options.snapshot else { return nil }
            options.events?(.snapshotting)
            var snapshotOptions = SnapshotOptions(kind: .preMigration,
                                                  label: "before migrating to \(plan.toVersion.map(String.init) ?? "?")")
            snapshotOptions.level = options.level
            snapshotOptions.lockWait = options.lockWait
            snapshotOptions.migrations = plan.migrations.map(\.version)
            snapshotOptions.notify = options.notify
            snapshot = try Snapshotter.take(database: self.database, store: store, options: snapshotOptions,
                                            progress: options.snapshotProgress).manifest
            Fault.point("migrate.after-snapshot")
            return snapshot?.id
        }
        try? store.record(JournalEntry(action: .migrate, database: database, safetySnapshot: snapshot?.id,
                                       details: "version \(plan.fromVersion.map(String.init) ?? "none") -> \(plan.toVersion.map(String.init) ?? "none"): \(plan.migrations.map(\.displayName).joined(separator: ", "))"))
        return MigrationReport(plan: plan, steps: steps, snapshot: snapshot, dryRun: false, tableCounts: [],
                               durationMs: Int64(Date().timeIntervalSince(started) * 1000))
    }

    /// Runs the plan on a private copy of the database made through the backup API.
    private func rehearse(_ plan: MigrationPlan, options: Options, started: Date) throws -> MigrationReport {
        let privateCopy = try PrivateCopy(of: database, in: try openStore().path, lockWait: options.lockWait,
                                          progress: options.snapshotProgress)
        let copy: Database = privateCopy.database
        for path in options.extensions { try copy.loadExtension(path) }
        let before = try Migrator.tableCounts(copy)
        let steps = try Migrator.apply(plan, on: copy, tool: toolHistory, events: options.events, rehearsal: true) { nil }
        let after = try Migrator.tableCounts(copy)
        let names = Set(before.keys).union(after.keys).filter { $0 != MigrationHistory.table && $0 != directory.layout.historyTable }.sorted()
        let counts = names.map { TableCount(table: $0, before: before[$0], after: after[$0]) }
        return MigrationReport(plan: plan, steps: steps, snapshot: nil, dryRun: true, tableCounts: counts,
                               durationMs: Int64(Date().timeIntervalSince(started) * 1000))
    }

    static func tableCounts(_ db: Database) throws -> [String: Int64] {
        var counts: [String: Int64] = [:]
        for row in try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") {
            guard let name = row[0].string else { continue }
            counts[name] = try db.int("SELECT count(*) FROM \(quoteIdentifier(name))")
        }
        return counts
    }

    static func refuseProblems(_ problems: [MigrationProblem], allowed: Set<MigrationProblem.Kind>) throws {
        let blocking = problems.filter { !allowed.contains($0.kind) }
        guard !blocking.isEmpty else { return }
        throw MigrationProblemsError(problems: blocking)
    }

    // MARK: - The run

    /// Applies `plan` on `db` in one transaction: for each migration its preconditions, SQL,
    /// postconditions and history rows (Backstop's, and the layout's tool's); then
    /// `PRAGMA foreign_key_check`; then COMMIT. Foreign-key enforcement is off for the run (it is a no-op
    /// inside a transaction) and restored afterwards; a migration that asks for it gets foreign-key
    /// actions during its own statements. Connection settings are put back before each migration.
    /// `takeSnapshot` runs first inside the transaction and returns the id of the snapshot to record.
    static func apply(_ plan: MigrationPlan, on db: Database, tool: ToolHistory, events: ((MigrationEvent) -> Void)?, rehearsal: Bool,
                      takeSnapshot: () throws -> String?) throws -> [MigrationStep] {
        let appliedAt = Timestamp.rfc3339(Date())
        let state = try ConnectionState.capture(db)
        return try inRunTransaction(db, versionBefore: plan.fromVersion, rehearsal: rehearsal, events: events) {
            let snapshotID = try takeSnapshot()
            try MigrationHistory.ensureTable(db)
            try tool.prepare(db)
            let run = try MigrationHistory.nextRun(db)
            var steps: [MigrationStep] = []
            let all = plan.migrations + plan.repeatables
            for (index, migration) in all.enumerated() {
                events?(.applying(migration, index: index, count: all.count))
                try state.restore(db)
                let fail = { (phase: MigrationFailure.Phase, statement: SQLStatement?, message: String, rows: CheckRows?) in
                    MigrationFailure(migration: migration.displayName, file: migration.path, phase: phase, statement: statement,
                                     message: message, rows: rows, versionBefore: plan.fromVersion, rehearsal: rehearsal)
                }
                try runChecks(migration.require, on: db) { fail(.precondition, $0, $1, $2) }
                let started = Date()
                let changesBefore = db.totalChanges
                if migration.enforceForeignKeys {
                    // Its statements run with foreign-key actions, and what they leave pointing at nothing is theirs.
                    let before = try Checks.foreignKeyViolations(db)
                    let triggers = try ForeignKeyActions.install(db)
                    try runStatements(migration.up, on: db) { fail(.up, $0, $1, nil) }
                    try ForeignKeyActions.remove(triggers, from: db)
                    let added = try Checks.foreignKeyViolations(db).subtracting(before)
                    if !added.isEmpty {
                        throw fail(.foreignKeyCheck, nil, "with enforcement on, these rows would be refused: they point at nothing", CheckRows(violations: added))
                    }
                } else {
                    try runStatements(migration.up, on: db) { fail(.up, $0, $1, nil) }
                }
                let rowsChanged = db.totalChanges - changesBefore
                try runChecks(migration.verify, on: db) { fail(.postcondition, $0, $1, $2) }
                let step = MigrationStep(version: migration.version, shownVersion: migration.versionText.isEmpty ? "R" : migration.shownVersion,
                                         name: migration.name, durationMs: Int64(Date().timeIntervalSince(started) * 1000), rowsChanged: rowsChanged)
                if !plan.repeatables.contains(where: { $0.path == migration.path }) {
                    try MigrationHistory.record(db, AppliedMigration(
                        version: migration.version, name: migration.name, checksum: migration.checksum, appliedAt: appliedAt,
                        durationMs: step.durationMs, rowsChanged: rowsChanged, snapshotID: snapshotID, kind: .migrate, run: run))
                }
                try tool.recordApplied(migration, db: db, elapsed: Date().timeIntervalSince(started))
                steps.append(step)
                events?(.applied(step))
            }
            try state.restore(db)
            return steps
        }
    }

    /// Runs `body` in one IMMEDIATE transaction with foreign keys unenforced, checks
    /// `PRAGMA foreign_key_check` before COMMIT, and rolls back on any error. Only violations the run
    /// added fail it: rows that pointed at nothing before the run are not the run's doing.
    static func inRunTransaction<T>(_ db: Database, versionBefore: Int64?, rehearsal: Bool,
                                    events: ((MigrationEvent) -> Void)?, _ body: () throws -> T) throws -> T {
        try db.withoutForeignKeyEnforcement {
            let committed = try db.inWriteTransaction {
                let before = try Checks.foreignKeyViolations(db)
                let result = try body()
                events?(.checkingForeignKeys)
                Fault.point("migrate.before-commit")
                let added = try Checks.foreignKeyViolations(db).subtracting(before)
                if !added.isEmpty {
                    throw MigrationFailure(
                        migration: nil, file: nil, phase: .foreignKeyCheck, statement: nil,
                        message: "the run left rows whose foreign key points at nothing (each row names a table, the rowid, the parent table and the key's index)"
                            + (before.isEmpty ? "" : "; \(before.count) other row\(before.count == 1 ? "" : "s") pointed at nothing before the run and \(before.count == 1 ? "is" : "are") not counted"),
                        rows: CheckRows(violations: added), versionBefore: versionBefore, rehearsal: rehearsal)
                }
                return result
            }
            if !rehearsal { Fault.point("migrate.after-commit") }
            return committed
        }
    }

    static func runChecks(_ checks: [SQLStatement], on db: Database,
                          failure: (SQLStatement, String, CheckRows?) -> MigrationFailure) throws {
        for check in checks {
            let rows: CheckRows
            do { rows = try Checks.run(check, on: db) } catch {
                throw failure(check, "\(error)", nil)
            }
            if !rows.isEmpty {
                throw failure(check, "the check returned rows (it must return none)", rows)
            }
        }
    }

    static func runStatements(_ statements: [SQLStatement], on db: Database,
                              failure: (SQLStatement, String) -> MigrationFailure) throws {
        for statement in statements {
            do {
                let prepared = try db.prepare(statement.sql)
                while try prepared.step() {}
            } catch let error as SQLiteError {
                throw failure(statement, "SQLite: \(error.message)")
            }
        }
    }
}
