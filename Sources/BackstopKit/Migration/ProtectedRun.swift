import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// A query that must return no rows after a protected run (`--verify FILE`).
public struct VerifyQuery: Sendable {
    /// Where it comes from: the file's name.
    public var source: String
    public var statement: SQLStatement

    public init(source: String, statement: SQLStatement) {
        self.source = source
        self.statement = statement
    }
}

public struct ProtectedRunOptions {
    /// What runs, in words (a command line): recorded in the manifest, the history and the journal.
    public var description: String
    public var lockWait: TimeInterval = 30
    /// Compression level of the pre-migration snapshot.
    public var level: Int = Snapshotter.defaultLevel
    /// Queries that must return no rows before the run starts (`guard.sql`).
    public var guardQueries: [SQLStatement] = []
    /// The guard's file name, for messages.
    public var guardSource: String = MigrationDirectory.guardFileName
    /// Queries that must return no rows afterwards.
    public var verifyQueries: [VerifyQuery] = []
    /// `PRAGMA integrity_check` afterwards instead of `quick_check`.
    public var deepCheck = false
    /// Accept a run after which the application's migration version has not moved.
    public var allowNoChange = false
    /// Restore the pre-migration snapshot when the run fails (the default); false keeps the failed state.
    public var restoreOnFailure = true
    /// Receives what is worth telling the user.
    public var notify: Notifier = { _ in }
    public var progress: PhaseProgress?

    public init(description: String) { self.description = description }
}

/// What the protected code gets: the database it must change (the live one, or a private copy in a
/// rehearsal) and the snapshot that undoes the run.
public struct ProtectedRunContext: Sendable {
    public var database: String
    public var snapshot: Manifest?
    public var rehearsal: Bool
}

/// Why a protected run failed.
public enum RunFailure: Sendable, Equatable {
    /// The command exited with a status other than 0, was ended by a signal, ran past its time limit, or
    /// Backstop was interrupted while it ran; or the protected code threw.
    case command(exitStatus: Int32?, signal: Int32?, timedOut: Bool, interruptedBy: Int32?, error: String?)
    /// SQLite's check of the database found problems.
    case integrity(method: String, problems: [String])
    /// Rows whose foreign key points at nothing that did not before the run.
    case foreignKeys([ForeignKeyViolation])
    /// A verify query returned rows.
    case verify(source: String, line: Int, sql: String, rows: [String])
    /// The application's migrator records a failed or unfinished migration.
    case dirty(tool: String, problem: String)
    /// The application's migration version did not move.
    case unchanged(tool: String?, version: String?)
    /// The live database changed during a rehearsal (the command did not use the copy).
    case liveChangedDuringRehearsal
}

/// What a protected run did.
public struct ProtectedRunReport: Sendable {
    public var database: String
    public var description: String
    /// The pre-migration snapshot (nil in a rehearsal).
    public var snapshot: Manifest?
    public var before: AppMigrationState?
    public var after: AppMigrationState?
    public var failures: [RunFailure]
    /// When the run failed and was undone: the restore, whose pre-restore snapshot keeps the failed state.
    public var restored: RestoreReport?
    /// The history record (nil when nothing was recorded: rehearsals, restored failures).
    public var record: WrappedRunRecord?
    /// Processes other than the command that had the database open while it ran: their writes since the
    /// snapshot are lost when a failure is restored.
    public var otherUsers: [String]
    /// Checks that could not run, in words.
    public var notChecked: [String]
    public var rehearsal: Bool
    /// Rehearsals: rows per table before and after, and schema changes.
    public var tableCounts: [TableCount]
    public var schema: SchemaDiff?
    public var durationMs: Int64

    public var succeeded: Bool { failures.isEmpty }
}

/// A protected run that failed: the report says what failed and whether the database was restored.
public struct ProtectedRunFailed: Error, Sendable {
    public var report: ProtectedRunReport
}

/// Wraps any change to a database, typically an application's own migrator, in Backstop's guarantees:
/// the database lock, the guard, a pre-migration snapshot, checks afterwards (the change's own outcome,
/// SQLite's check, new foreign-key violations, verify queries, the migrator's own version), and on any
/// failure the database restored exactly as it was before; on success the run is recorded in the history,
/// so that `rollback` undoes it.
///
/// ```swift
/// // An app that migrates itself at start-up (GRDB's DatabaseMigrator here):
/// let store = try SnapshotStore(path: "app.db.backstop", create: true)
/// try ProtectedRun.protect(database: "app.db", store: store, options: ProtectedRunOptions(description: "DatabaseMigrator")) { path in
///     let queue = try DatabaseQueue(path: path)
///     try migrator.migrate(queue)
/// }
/// ```
///
/// The application's other writers must be stopped (the guard is where to check it): what they write
/// between the snapshot and a failure is lost when the database is restored. Processes that had the
/// database open during the run are reported.
public enum ProtectedRun {
    /// Runs `body` under protection. Throws ``ProtectedRunFailed`` when the run failed (after restoring,
    /// unless `restoreOnFailure` is false); other errors mean the run did not start, and nothing changed.
    @discardableResult
    public static func run(database databasePath: String, store: SnapshotStore, options: ProtectedRunOptions,
                           _ body: (ProtectedRunContext) throws -> CommandOutcome?) throws -> ProtectedRunReport {
        let started = Date()
        let database = FileSystem.absolute(databasePath)
        try Database.checkIsSQLiteFile(database)
        // An encrypted pre-migration snapshot that no key given opens could not be restored automatically.
        let recipients = store.keys.recipients.map(\.description)
        if options.restoreOnFailure, store.keys.encrypts, !store.keys.canDecrypt(recipients) {
            throw BackstopError.refused(
                "the store encrypts its snapshots, and no key given decrypts them: if the run failed, the automatic restore could not read the pre-migration snapshot (run with --no-restore to accept that); nothing was changed",
                remedy: .giveIdentity(recipients: recipients))
        }
        let lock = try DatabaseLock.acquire(database, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }

        // 1. The guard, and the state to compare with afterwards.
        let (before, violationsBefore) = try inspect(database, options: options, action: "run")

        // 2. The pre-migration snapshot, which records the command and the migrator's version.
        var snapshotOptions = SnapshotOptions(kind: .preMigration, label: "before \(options.description)")
        snapshotOptions.level = options.level
        snapshotOptions.lockWait = options.lockWait
        snapshotOptions.notify = options.notify
        snapshotOptions.command = options.description
        let snapshot = try Snapshotter.take(database: database, store: store, options: snapshotOptions,
                                            progress: options.progress.map(SafetySnapshot.progress)).manifest
        Fault.point("run.after-snapshot")

        // 3. The change, watched for other processes that open the database meanwhile.
        let watcher = UserWatcher(database: database)
        var failures: [RunFailure] = []
        do {
            let outcome = try body(ProtectedRunContext(database: database, snapshot: snapshot, rehearsal: false))
            if let outcome, !outcome.succeeded {
                failures.append(.command(exitStatus: outcome.exitStatus, signal: outcome.signal, timedOut: outcome.timedOut,
                                         interruptedBy: outcome.interruptedBy, error: nil))
            }
        } catch {
            failures.append(.command(exitStatus: nil, signal: nil, timedOut: false, interruptedBy: nil, error: "\(error)"))
        }
        let otherUsers = watcher.stop()
        Fault.point("run.after-command")

        // 4. Checks, unless the change itself already failed.
        var after: AppMigrationState?
        var notChecked: [String] = []
        if failures.isEmpty {
            let checked = try check(database, before: before, violationsBefore: violationsBefore, options: options)
            failures += checked.failures
            after = checked.after
            notChecked = checked.notChecked
        } else {
            after = try? AppMigrators.detect(Database.openForReading(database))
        }
        var report = ProtectedRunReport(
            database: database, description: options.description, snapshot: snapshot, before: before, after: after,
            failures: failures, restored: nil, record: nil, otherUsers: otherUsers, notChecked: notChecked, rehearsal: false,
            tableCounts: [], schema: nil, durationMs: 0)

        // 5. A failure is undone: the database is restored to the snapshot (its failed state is kept as the
        //    restore's pre-restore snapshot), unless asked to keep it.
        if !failures.isEmpty {
            if options.restoreOnFailure {
                Fault.point("run.before-restore")
                var restoreOptions = RestoreOptions()
                restoreOptions.lockWait = options.lockWait
                restoreOptions.level = 1
                restoreOptions.notify = options.notify
                report.restored = try Restorer.restoreLive(
                    snapshot, from: store, store: store, database: database, options: restoreOptions, progress: options.progress,
                    action: .restore, details: "automatic: the run of \(options.description) failed; restored the state before it",
                    databaseLockHeld: true)
            } else {
                report.record = try? record(database, report: report, started: started, exitStatus: exitStatus(failures), outcome: "failed")
            }
            report.durationMs = Int64(Date().timeIntervalSince(started) * 1000)
            throw ProtectedRunFailed(report: report)
        }

        // 6. Success: recorded in the history (so rollback undoes it) and in the store's journal.
        report.record = try record(database, report: report, started: started, exitStatus: 0, outcome: "applied")
        try? store.record(JournalEntry(action: .run, database: database, safetySnapshot: snapshot.id,
                                       details: "\(options.description): \(versionWords(before)) -> \(versionWords(after))"))
        report.durationMs = Int64(Date().timeIntervalSince(started) * 1000)
        return report
    }

    /// Runs `change` (code that migrates the database at the path it is given) under protection: a
    /// thrown error is a failure, and the database is restored. Throws ``ProtectedRunFailed`` then.
    @discardableResult
    public static func protect(database: String, store: SnapshotStore, options: ProtectedRunOptions,
                               _ change: (String) throws -> Void) throws -> ProtectedRunReport {
        try run(database: database, store: store, options: options) { context in
            try change(context.database)
            return nil
        }
    }

    /// Runs `body` against a private copy of the database (made through the backup API in `store`'s
    /// folder) and reports what would change; the live database is not touched. Throws
    /// ``ProtectedRunFailed`` when the rehearsal fails.
    @discardableResult
    public static func rehearse(database databasePath: String, store: SnapshotStore, options: ProtectedRunOptions,
                                _ body: (ProtectedRunContext) throws -> CommandOutcome?) throws -> ProtectedRunReport {
        let started = Date()
        let database = FileSystem.absolute(databasePath)
        try Database.checkIsSQLiteFile(database)
        let lock = try DatabaseLock.acquire(database, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }
        let (before, violationsBefore) = try inspect(database, options: options, action: "rehearsal")
        let copy = try PrivateCopy(of: database, in: store.path, lockWait: options.lockWait, progress: options.progress)
        let countsBefore = try Migrator.tableCounts(copy.database)
        let schemaBefore = try columnsByTable(copy.database)
        // Any commit to the live database by another connection changes its data_version.
        let live = try Database.openForReading(database)
        let liveVersion = try live.int("PRAGMA data_version")

        var failures: [RunFailure] = []
        do {
            let outcome = try body(ProtectedRunContext(database: copy.path, snapshot: nil, rehearsal: true))
            if let outcome, !outcome.succeeded {
                failures.append(.command(exitStatus: outcome.exitStatus, signal: outcome.signal, timedOut: outcome.timedOut,
                                         interruptedBy: outcome.interruptedBy, error: nil))
            }
        } catch {
            failures.append(.command(exitStatus: nil, signal: nil, timedOut: false, interruptedBy: nil, error: "\(error)"))
        }
        if try live.int("PRAGMA data_version") != liveVersion { failures.append(.liveChangedDuringRehearsal) }
        let checked = try check(copy.path, before: before, violationsBefore: violationsBefore, options: options)
        if failures.isEmpty { failures += checked.failures }
        let reopened = try Database(path: copy.path, mode: .readOnly)
        let countsAfter = try Migrator.tableCounts(reopened)
        let schemaAfter = try columnsByTable(reopened)
        let names = Set(countsBefore.keys).union(countsAfter.keys).sorted()
        var report = ProtectedRunReport(
            database: database, description: options.description, snapshot: nil, before: before, after: checked.after,
            failures: failures, restored: nil, record: nil, otherUsers: [], notChecked: checked.notChecked, rehearsal: true,
            tableCounts: names.map { TableCount(table: $0, before: countsBefore[$0], after: countsAfter[$0]) },
            schema: schemaDiff(schemaBefore, schemaAfter), durationMs: 0)
        report.durationMs = Int64(Date().timeIntervalSince(started) * 1000)
        if !failures.isEmpty { throw ProtectedRunFailed(report: report) }
        return report
    }

    // MARK: - Steps

    /// The guard, then the migrator's version and the foreign-key violations there are before the run.
    static func inspect(_ database: String, options: ProtectedRunOptions, action: String) throws
        -> (AppMigrationState?, Set<ForeignKeyViolation>) {
        let reader = try Database.openForReading(database, busyTimeout: options.lockWait)
        return try reader.inReadTransaction {
            try Guard.enforce(options.guardQueries, on: reader, action: action, file: options.guardSource)
            return (try AppMigrators.detect(reader), try Checks.foreignKeyViolations(reader))
        }
    }

    struct Checked {
        var failures: [RunFailure] = []
        var after: AppMigrationState?
        var notChecked: [String] = []
    }

    /// The checks after a run, on `database` (the live one, or a rehearsal's copy).
    static func check(_ database: String, before: AppMigrationState?, violationsBefore: Set<ForeignKeyViolation>,
                      options: ProtectedRunOptions) throws -> Checked {
        var checked = Checked()
        let db = try Database.openForReading(database, busyTimeout: options.lockWait)
        db.enableStandIns()
        try db.inReadTransaction {
            let integrity = IntegrityCheck.run(on: db, quick: !options.deepCheck)
            if integrity.ok == false { checked.failures.append(.integrity(method: integrity.method, problems: integrity.problems)) }
            if let reason = integrity.couldNotRun { checked.notChecked.append("PRAGMA \(integrity.method) could not run: \(reason)") }
            checked.notChecked += integrity.notChecked
            let added = try Checks.foreignKeyViolations(db).subtracting(violationsBefore)
            if !added.isEmpty {
                checked.failures.append(.foreignKeys(added.sorted { ($0.table, $0.rowid) < ($1.table, $1.rowid) }))
            }
            for query in options.verifyQueries {
                let rows = try Checks.run(query.statement, on: db)
                if !rows.isEmpty {
                    checked.failures.append(.verify(source: query.source, line: query.statement.line, sql: query.statement.sql,
                                                    rows: rows.describe(indent: "").split(separator: "\n").map(String.init)))
                }
            }
            let after = try AppMigrators.detect(db)
            checked.after = after
            if let after, after.dirty {
                checked.failures.append(.dirty(tool: after.tool, problem: after.problem ?? "a migration failed"))
            } else if !options.allowNoChange, before == after {
                if after == nil {
                    checked.notChecked.append("the migration version (no known migrator's table or PRAGMA user_version in the database)")
                } else {
                    checked.failures.append(.unchanged(tool: after?.tool, version: after?.version))
                }
            }
        }
        return checked
    }

    static func record(_ database: String, report: ProtectedRunReport, started: Date, exitStatus: Int32, outcome: String) throws -> WrappedRunRecord {
        let db = try Database.openForWriting(database)
        return try RunHistory.record(db) { run in
            WrappedRunRecord(run: run, command: report.description, exitStatus: exitStatus, tool: report.after?.tool ?? report.before?.tool,
                             versionBefore: report.before?.version, versionAfter: report.after?.version, snapshotID: report.snapshot?.id,
                             startedAt: Timestamp.rfc3339(started), durationMs: Int64(Date().timeIntervalSince(started) * 1000),
                             outcome: outcome)
        }
    }

    static func exitStatus(_ failures: [RunFailure]) -> Int32 {
        for failure in failures { if case .command(let status, _, _, _, _) = failure { return status ?? -1 } }
        return 0
    }

    static func versionWords(_ state: AppMigrationState?) -> String {
        guard let state else { return "no migrator" }
        return "\(state.tool) \(state.version ?? "none")"
    }

    static func columnsByTable(_ db: Database) throws -> [String: [String]] {
        var result: [String: [String]] = [:]
        for row in try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") {
            guard let table = row[0].string else { continue }
            result[table] = try db.rows("SELECT name FROM pragma_table_info(?1)", [.text(table)]).compactMap { $0[0].string }
        }
        return result
    }

    static func schemaDiff(_ before: [String: [String]], _ after: [String: [String]]) -> SchemaDiff {
        var diff = SchemaDiff()
        diff.tablesAdded = after.keys.filter { before[$0] == nil }.sorted()
        diff.tablesRemoved = before.keys.filter { after[$0] == nil }.sorted()
        for (table, columns) in after {
            guard let old = before[table] else { continue }
            let added = columns.filter { !old.contains($0) }
            let removed = old.filter { !columns.contains($0) }
            if !added.isEmpty { diff.columnsAdded[table] = added }
            if !removed.isEmpty { diff.columnsRemoved[table] = removed }
        }
        return diff
    }
}

/// Watches which processes other than this one and its children have a database open, while a
/// protected run's command runs (polling /proc: a process that opens and closes the database between two
/// looks, or that lives in another PID namespace or on another machine, is not seen).
final class UserWatcher: @unchecked Sendable {
    private let found = Guarded<(users: [String], stop: Bool)>(([], false))
    private let done = DispatchSemaphore(value: 0)

    init(database: String, interval: TimeInterval = 0.2) {
        let found = self.found, done = self.done
        Thread {
            while true {
                for path in [database, database + "-wal"] {
                    for holder in FileSystem.processHolders(path) where !FileSystem.isDescendantOfThisProcess(holder.pid) {
                        let words = "pid \(holder.pid) (\(holder.command))"
                        found.withLock { if !$0.users.contains(words) { $0.users.append(words) } }
                    }
                }
                if found.withLock({ $0.stop }) { break }
                Thread.sleep(forTimeInterval: interval)
            }
            done.signal()
        }.start()
    }

    /// Stops watching; returns what was seen.
    func stop() -> [String] {
        found.withLock { $0.stop = true }
        done.wait()
        return found.withLock { $0.users }
    }
}
