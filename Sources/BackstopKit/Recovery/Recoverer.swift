import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What to recover.
public struct RecoveryRequest: Sendable {
    public var table: String
    /// SQL condition on the snapshot's rows of `table`, evaluated against the snapshot only.
    public var predicate: String
    /// Also bring back rows that referenced the recovered rows in the snapshot and are missing live.
    public var children = false
    /// Point rows back at recovered rows when a merge re-pointed them elsewhere.
    public var repoint = false
    /// `column` or `table.column` -> value for recovered rows (columns the snapshot lacks, or overrides).
    public var sets: [String: SQLiteValue] = [:]

    public init(table: String, predicate: String) {
        self.table = table
        self.predicate = predicate
    }
}

/// A row of a table, identified by its key values (storage classes kept: 1 and '1' are different keys).
public struct RowKey: Hashable, Sendable {
    public var table: String
    public var values: [SQLiteValue]
}

/// One row to bring back.
public struct RecoveredRow: Sendable {
    public enum Reason: Sendable, Equatable {
        case selected
        case parent(of: String)
        case child(of: String)
    }

    public var table: String
    public var key: [SQLiteValue]
    /// Columns to insert and their values (the snapshot's, with the request's sets applied).
    public var columns: [String]
    public var values: [SQLiteValue]
    public var reason: Reason

    public var label: String { "\(table)(\(key.map(\.sqlLiteralForDisplay).joined(separator: ", ")))" }
}

/// A live row whose foreign key is pointed back at a recovered row.
public struct Repoint: Sendable, Equatable {
    public var table: String
    public var keyColumns: [String]
    public var key: [SQLiteValue]
    public var columns: [String]
    public var from: [SQLiteValue]
    public var to: [SQLiteValue]

    public var label: String { "\(table)(\(key.map(\.sqlLiteralForDisplay).joined(separator: ", ")))" }
}

public struct RecoveryPlan: Sendable {
    public var snapshot: Manifest
    public var database: String
    public var request: RecoveryRequest
    /// Rows of the table in the snapshot that match the predicate.
    public var matched: Int
    public var rows: [RecoveredRow]
    public var repoints: [Repoint]
    /// Rows that matched the predicate but are present live (left alone).
    public var alreadyPresent: Int
    /// Per table, live columns the snapshot lacks, filled with their defaults.
    public var defaulted: [String: [String]]

    public var isEmpty: Bool { rows.isEmpty && repoints.isEmpty }

    public var rowsPerTable: [(table: String, count: Int)] {
        Dictionary(grouping: rows, by: \.table).map { ($0.key, $0.value.count) }.sorted { $0.table < $1.table }
    }

    /// The same rows and re-points (what a confirmation was given for).
    func sameChange(as other: RecoveryPlan) -> Bool {
        rows.map { RowKey(table: $0.table, values: $0.key) } == other.rows.map { RowKey(table: $0.table, values: $0.key) }
            && rows.map(\.values) == other.rows.map(\.values) && repoints == other.repoints
    }
}

/// A query that must return no rows after the recovery (an applied migration's verify section).
public struct RecoveryCheck: Sendable {
    public var name: String
    public var statement: SQLStatement
    public init(name: String, statement: SQLStatement) {
        self.name = name
        self.statement = statement
    }
}

/// A check that returned rows once the recovered rows were in place.
public struct RecoveryCheckFailure: Sendable {
    public var check: RecoveryCheck
    public var rows: CheckRows
}

public struct RecoveryOptions {
    public var lockWait: TimeInterval = 30
    public var level: Int = Snapshotter.defaultLevel
    /// Allow a snapshot of another database as the source.
    public var allowOtherDatabase = false
    /// Apply in a transaction that is always rolled back: the same work and verdict as a real run,
    /// nothing kept, no safety snapshot.
    public var dryRun = false
    /// Called with the plan, outside any write lock, before anything changes; throw to stop.
    public var confirm: ((RecoveryPlan) throws -> Void)?
    /// Queries that must return no rows with the recovered rows in place; their results are reported,
    /// and they do not stop the recovery.
    public var checks: [RecoveryCheck] = []
    /// A migrations folder whose applied migrations' `verify` sections are added to `checks`.
    public var migrations: String?
    public var progress: PhaseProgress?
    /// Receives what is worth telling the user (a lock taken over from a run that died).
    public var notify: Notifier = { _ in }
    public init() {}
}

public struct RecoveryReport: Sendable {
    public var plan: RecoveryPlan
    public var preRecover: Manifest?
    public var dryRun: Bool
    /// Checks that returned rows with the recovered rows in place.
    public var checkFailures: [RecoveryCheckFailure]
    /// How many checks ran.
    public var checksRun: Int
}

/// Brings back rows that a snapshot holds and the live database lost, with what hangs from them,
/// in one transaction after a `pre-recover` snapshot.
///
/// The snapshot is read in place; the predicate runs on it alone, before the live database is locked,
/// so a slow predicate never holds the application's writes. Planning, the safety snapshot and the change
/// then happen in one write transaction; a dry run does the same work and rolls it back.
public enum Recoverer {
    public static func recover(_ snapshot: Manifest, store: SnapshotStore, database: String, request: RecoveryRequest,
                               options: RecoveryOptions = RecoveryOptions()) throws -> RecoveryReport {
        try recover(snapshot, from: store, store: store, database: database, request: request, options: options)
    }

    /// The same, reading the snapshot from `source` (a replica, say); the `pre-recover` snapshot goes into
    /// the local `store`.
    public static func recover(_ snapshot: Manifest, from source: any SnapshotRepository, store: SnapshotStore, database: String,
                               request: RecoveryRequest, options: RecoveryOptions = RecoveryOptions()) throws -> RecoveryReport {
        let database = FileSystem.absolute(database)
        try Database.checkIsSQLiteFile(database)
        if try !source.belongs(snapshot, to: database) && !options.allowOtherDatabase {
            throw BackstopError.refused("snapshot \(snapshot.id) is of \(snapshot.database), not of \(database); nothing was changed",
                                        remedy: .allowOtherDatabase)
        }
        // 1. The predicate, on the snapshot alone: read-only, query_only, exactly one statement.
        let file = try SnapshotFile(snapshot, in: source)
        let reader = try file.openDatabase()
        let snapTablesAlone = try TableSchema.all(in: reader)
        guard let seed = snapTablesAlone.table(named: request.table) else {
            throw BackstopError.invalidInput("the snapshot has no table '\(request.table)'")
        }
        guard !seed.keyColumns.isEmpty else {
            throw BackstopError.invalidInput("rows of \(seed.name) cannot be identified: it has no primary key and columns named rowid, oid and _rowid_")
        }
        let selectSQL = "SELECT \(columnList(seed.keyColumns)) FROM \(quoteIdentifier(seed.name)) WHERE (\(request.predicate)\n)"
        let selected: [[SQLiteValue]]
        do {
            let statement = try reader.prepareSingle(selectSQL)
            guard statement.isReadOnly else { throw BackstopError.invalidInput("the condition must only read, not write") }
            selected = try reader.retryingWithStandInFunctions { try statement.all() }
        } catch let error as SQLiteError {
            throw BackstopError.invalidInput("the condition cannot be used: \(error.message). Nothing was changed.")
        }

        Fault.point("recover.after-predicate")

        // 2. The live database, under Backstop's lock, with the snapshot attached read-only.
        let lock = try DatabaseLock.acquire(database, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }
        let live = try Database.openForWriting(database, busyTimeout: options.lockWait)
        live.enableStandIns()
        try file.attach(to: live, as: "snap")
        defer { try? live.execute("DETACH DATABASE snap") }
        let plan = { try makePlan(snapshot, seed: seed.name, selected: selected, live: live, database: database, request: request) }

        // 3. Show the plan and ask, outside any write lock (nobody waits on a person reading it).
        var confirmed: RecoveryPlan?
        if let confirm = options.confirm, !options.dryRun {
            let shown = try live.inReadTransaction(plan)
            if shown.isEmpty {
                return RecoveryReport(plan: shown, preRecover: nil, dryRun: false, checkFailures: [], checksRun: 0)
            }
            try confirm(shown)
            confirmed = shown
        }

        // 4. One write transaction: plan, safety snapshot, change, checks; a dry run rolls it all back.
        let report = try live.withoutForeignKeyEnforcement {
            try live.inWriteTransaction(rollback: options.dryRun) {
                let plan = try plan()
                if let confirmed, !confirmed.sameChange(as: plan) {
                    throw BackstopError.refused("the live database changed since the plan was shown, so the rows to recover are not the same; nothing was changed",
                                                remedy: .runAgain)
                }
                if plan.isEmpty { return RecoveryReport(plan: plan, preRecover: nil, dryRun: options.dryRun, checkFailures: [], checksRun: 0) }
                var pre: Manifest?
                if !options.dryRun {
                    var snapshotOptions = SnapshotOptions(kind: .preRecover, label: "before recovering \(request.table) rows from \(snapshot.id)")
                    snapshotOptions.level = options.level
                    snapshotOptions.lockWait = options.lockWait
                    snapshotOptions.notify = options.notify
                    pre = try Snapshotter.take(database: database, store: store, options: snapshotOptions,
                                               progress: options.progress.map(SafetySnapshot.progress)).manifest
                }
                let touched = Set(plan.rows.map(\.table) + plan.repoints.map(\.table))
                let before = try Checks.foreignKeyViolations(live, tables: touched)
                try apply(plan, to: live)
                let after = try Checks.foreignKeyViolations(live, tables: touched)
                let caused = after.subtracting(before)
                if !caused.isEmpty {
                    let lines = caused.sorted { ($0.table, $0.rowid) < ($1.table, $1.rowid) }.prefix(5)
                        .map { "    \($0.table) rowid \($0.rowid) -> \($0.parent)" }.joined(separator: "\n")
                    throw BackstopError.refused("the recovered rows would leave rows pointing at nothing; nothing was changed:\n" + lines,
                                                remedy: .recoverChildren)
                }
                var failures: [RecoveryCheckFailure] = []
                let checks = options.checks + (try options.migrations.map { try postconditions(of: $0, on: live) } ?? [])
                for check in checks {
                    let rows = try Checks.run(check.statement, on: live)
                    if !rows.isEmpty { failures.append(RecoveryCheckFailure(check: check, rows: rows)) }
                }
                Fault.point("recover.before-commit")
                return RecoveryReport(plan: plan, preRecover: pre, dryRun: options.dryRun, checkFailures: failures,
                                      checksRun: checks.count)
            }
        }
        if !report.dryRun && !report.plan.isEmpty {
            try? store.record(JournalEntry(action: .recover, database: database, snapshot: snapshot.id, safetySnapshot: report.preRecover?.id,
                                           details: "recovered " + report.plan.rowsPerTable.map { "\($0.count) \($0.table)" }.joined(separator: ", ")
                                            + (report.plan.repoints.isEmpty ? "" : ", re-pointed \(report.plan.repoints.count)")))
        }
        return report
    }

    /// The `verify` queries of the migrations applied to `live`, from the folder at `path` (none when the
    /// folder does not exist).
    static func postconditions(of path: String, on live: Database) throws -> [RecoveryCheck] {
        guard FileSystem.isDirectory(path) else { return [] }
        let directory = try MigrationDirectory.load(path: path)
        let applied = Set(try MigrationHistory.read(live).map { "\($0.version)\u{1}\($0.name)" })
        return directory.files.filter { applied.contains("\($0.version)\u{1}\($0.name)") }.flatMap { file in
            file.verify.map { RecoveryCheck(name: file.displayName, statement: $0) }
        }
    }

    static func apply(_ plan: RecoveryPlan, to live: Database) throws {
        for row in plan.rows {
            let sql = "INSERT INTO main.\(quoteIdentifier(row.table)) (\(columnList(row.columns))) VALUES (\(row.columns.indices.map { "?\($0 + 1)" }.joined(separator: ", ")))"
            do { try live.prepare(sql).all(row.values) } catch let error as SQLiteError where error.isConstraint {
                throw BackstopError.refused("recovering \(row.label) failed: \(error.message); nothing was changed", remedy: .diff(snapshot: plan.snapshot.id))
            }
        }
        for repoint in plan.repoints {
            let sets = repoint.columns.enumerated().map { "\(quoteIdentifier($0.element)) = ?\($0.offset + 1)" }.joined(separator: ", ")
            let sql = "UPDATE main.\(quoteIdentifier(repoint.table)) SET \(sets) WHERE \(matchClause(repoint.keyColumns, firstParameter: repoint.columns.count + 1))"
            do { try live.prepare(sql).all(repoint.to + repoint.key) } catch let error as SQLiteError where error.isConstraint {
                throw BackstopError.refused("pointing \(repoint.label) back failed: \(error.message); nothing was changed", remedy: nil)
            }
        }
    }

    // MARK: - Planning

    static func makePlan(_ snapshot: Manifest, seed: String, selected: [[SQLiteValue]], live: Database, database: String,
                         request: RecoveryRequest) throws -> RecoveryPlan {
        let snapTables = try TableSchema.all(in: live, schema: "snap")
        let liveTables = try TableSchema.all(in: live, schema: "main")
        guard let seedSnap = snapTables.table(named: seed) else {
            throw BackstopError.invalidInput("the snapshot has no table '\(request.table)'")
        }
        guard liveTables.table(named: seed) != nil else {
            throw BackstopError.invalidInput("the live database has no table '\(request.table)'")
        }
        try validateSets(request.sets, liveTables: liveTables)

        var plan = RecoveryPlan(snapshot: snapshot, database: database, request: request, matched: selected.count, rows: [],
                                repoints: [], alreadyPresent: 0, defaulted: [:])
        var planned: Set<RowKey> = []
        var repointed: Set<String> = []
        var queue: [(table: String, key: [SQLiteValue], reason: RecoveredRow.Reason)] = []

        for key in selected {
            if try exists(live, schema: "main", table: seedSnap.name, columns: seedSnap.keyColumns, values: key) {
                plan.alreadyPresent += 1
            } else if planned.insert(RowKey(table: seedSnap.name, values: key)).inserted {
                queue.append((seedSnap.name, key, .selected))
            }
        }

        // Parents always; children and re-points when asked; transitively.
        var index = 0
        while index < queue.count {
            let (table, key, reason) = queue[index]
            index += 1
            guard let snapSchema = snapTables.table(named: table), let liveSchema = liveTables.table(named: table) else {
                throw BackstopError.invalidInput("cannot recover rows of '\(table)': the table is missing from the \(snapTables.table(named: table) == nil ? "snapshot" : "live database")")
            }
            guard !liveSchema.keyColumns.isEmpty else {
                throw BackstopError.invalidInput("rows of \(table) cannot be identified live: it has no primary key and columns named rowid, oid and _rowid_")
            }
            let row = try recoveredRow(live, table: table, key: key, snap: snapSchema, live: liveSchema, request: request,
                                       reason: reason, plan: &plan)
            plan.rows.append(row)
            let valueOf = { (column: String) -> SQLiteValue? in
                if snapSchema.keyIsRowID, column == snapSchema.keyColumns.first { return key.first }
                return row.columns.firstIndex(of: column).map { row.values[$0] }
            }

            for foreignKey in liveSchema.foreignKeys {
                guard let parent = liveTables.table(named: foreignKey.parent) else { continue }
                let values = foreignKey.from.map { valueOf($0) ?? .null }
                if values.contains(where: \.isNull) { continue }
                let referenced = TableSchema.referencedColumns(foreignKey, parent: parent)
                if try exists(live, schema: "main", table: parent.name, columns: referenced, values: values) { continue }
                guard let snapParent = snapTables.table(named: parent.name),
                      let parentKey = try live.rows("SELECT \(columnList(snapParent.keyColumns)) FROM snap.\(quoteIdentifier(snapParent.name)) WHERE \(matchClause(referenced)) LIMIT 1", values).first else {
                    throw BackstopError.refused(
                        "\(row.label) refers to \(parent.name)(\(referenced.joined(separator: ", ")))=\(values.map(\.sqlLiteralForDisplay).joined(separator: ", ")), which neither the live database nor the snapshot holds; nothing was changed",
                        remedy: nil)
                }
                if planned.insert(RowKey(table: parent.name, values: parentKey)).inserted {
                    queue.append((parent.name, parentKey, .parent(of: row.label)))
                }
            }

            guard request.children || request.repoint else { continue }
            for child in liveTables.values.sorted(by: { $0.name < $1.name }) {
                guard let snapChild = snapTables.table(named: child.name) else { continue }
                for foreignKey in child.foreignKeys where foreignKey.parent.caseInsensitiveCompare(table) == .orderedSame {
                    guard foreignKey.from.allSatisfy({ name in snapChild.column(named: name) != nil }) else { continue }
                    let referenced = TableSchema.referencedColumns(foreignKey, parent: liveSchema)
                    let values = referenced.map { valueOf($0) ?? .null }
                    if values.contains(where: \.isNull) { continue }
                    let children = try live.rows("SELECT \(columnList(snapChild.keyColumns)) FROM snap.\(quoteIdentifier(snapChild.name)) WHERE \(matchClause(foreignKey.from))", values)
                    for childKey in children {
                        let liveRow = try live.rows("SELECT \(columnList(foreignKey.from)) FROM main.\(quoteIdentifier(child.name)) WHERE \(matchClause(child.keyColumns))", childKey).first
                        if let liveRow {
                            let marker = "\(child.name)\u{1}\(childKey)\u{1}\(foreignKey.from)"
                            if request.repoint && liveRow != values && repointed.insert(marker).inserted {
                                plan.repoints.append(Repoint(table: child.name, keyColumns: child.keyColumns, key: childKey,
                                                             columns: foreignKey.from, from: liveRow, to: values))
                            }
                        } else if request.children && planned.insert(RowKey(table: child.name, values: childKey)).inserted {
                            queue.append((child.name, childKey, .child(of: row.label)))
                        }
                    }
                }
            }
        }
        try checkClashes(plan, liveTables: liveTables, live: live)
        return plan
    }

    /// Every `--set` must name a column of a live table (and `TABLE.COLUMN` an existing table): a typo
    /// must not be silently ignored.
    static func validateSets(_ sets: [String: SQLiteValue], liveTables: [String: TableSchema]) throws {
        for name in sets.keys.sorted() {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2 {
                guard let table = liveTables.table(named: parts[0]) else {
                    throw BackstopError.invalidInput("the value given for \(name): the live database has no table '\(parts[0])'")
                }
                guard table.column(named: parts[1]) != nil else {
                    throw BackstopError.invalidInput("the value given for \(name): \(table.name) has no column '\(parts[1])' (it has \(table.columnNames.joined(separator: ", ")))")
                }
            } else if !liveTables.values.contains(where: { $0.column(named: name) != nil }) {
                throw BackstopError.invalidInput("the value given for \(name): no live table has a column '\(name)'")
            }
        }
    }

    /// The value `--set` gives `column` of `table`, if any (table names and columns compared as SQLite does).
    static func setValue(_ sets: [String: SQLiteValue], table: String, column: String) -> SQLiteValue? {
        for (name, value) in sets {
            let parts = name.split(separator: ".", maxSplits: 1).map(String.init)
            if parts.count == 2, parts[0].caseInsensitiveCompare(table) == .orderedSame, parts[1].caseInsensitiveCompare(column) == .orderedSame {
                return value
            }
        }
        return sets.first { $0.key.caseInsensitiveCompare(column) == .orderedSame && !$0.key.contains(".") }?.value
    }

    /// The snapshot's row, limited to the columns both schemas have, with the request's sets applied.
    /// Fails on a live column that requires a value the snapshot cannot give.
    static func recoveredRow(_ db: Database, table: String, key: [SQLiteValue], snap: TableSchema, live: TableSchema,
                             request: RecoveryRequest, reason: RecoveredRow.Reason, plan: inout RecoveryPlan) throws -> RecoveredRow {
        var columns = live.columnNames.filter { snap.column(named: $0) != nil }
        var selectColumns = columns
        if snap.keyIsRowID, live.keyIsRowID, let liveAlias = live.rowidAlias, let snapAlias = snap.rowidAlias {
            columns.insert(liveAlias, at: 0)
            selectColumns.insert(snapAlias, at: 0)
        }
        guard var values = try db.rows("SELECT \(columnList(selectColumns)) FROM snap.\(quoteIdentifier(snap.name)) WHERE \(matchClause(snap.keyColumns))", key).first else {
            throw BackstopError.failed("row \(table)(\(key.map(\.sqlLiteralForDisplay).joined(separator: ", "))) vanished from the snapshot")
        }
        for column in live.columns where !columns.contains(column.name) {
            if let value = setValue(request.sets, table: live.name, column: column.name) {
                columns.append(column.name)
                values.append(value)
            } else if column.notNull && !column.hasDefault && column.primaryKeyIndex == 0 {
                throw BackstopError.invalidInput(
                    "\(live.name).\(column.name) is NOT NULL without a default in the live database, and the snapshot has no such column, so the recovered rows need a value for it. Nothing was changed.",
                    remedy: .setColumn(table: live.name, column: column.name))
            } else if !(plan.defaulted[live.name] ?? []).contains(column.name) {
                plan.defaulted[live.name, default: []].append(column.name)
            }
        }
        let keyNames = Set((snap.primaryKey + [live.rowidAlias ?? ""]).map { $0.lowercased() })
        for (index, column) in columns.enumerated() where !keyNames.contains(column.lowercased()) {
            if let value = setValue(request.sets, table: live.name, column: column) { values[index] = value }
        }
        return RecoveredRow(table: live.name, key: key, columns: columns, values: values, reason: reason)
    }

    static func exists(_ db: Database, schema: String, table: String, columns: [String], values: [SQLiteValue]) throws -> Bool {
        try db.scalar("SELECT 1 FROM \(quoteIdentifier(schema)).\(quoteIdentifier(table)) WHERE \(matchClause(columns)) LIMIT 1", values) != nil
    }

    /// Refuses, before anything changes, when a recovered row would clash with a live row on a UNIQUE
    /// constraint, naming both rows.
    static func checkClashes(_ plan: RecoveryPlan, liveTables: [String: TableSchema], live: Database) throws {
        for row in plan.rows {
            guard let schema = liveTables.table(named: row.table) else { continue }
            for unique in schema.uniqueKeys where unique.allSatisfy(row.columns.contains) {
                let values = unique.map { row.values[row.columns.firstIndex(of: $0)!] }
                if values.contains(where: \.isNull) { continue }
                if let clash = try live.rows("SELECT \(columnList(schema.keyColumns)) FROM main.\(quoteIdentifier(row.table)) WHERE \(matchClause(unique)) LIMIT 1", values).first {
                    let pairs = zip(unique, values).map { "\($0)=\($1.sqlLiteralForDisplay)" }.joined(separator: ", ")
                    throw BackstopError.refused(
                        "\(row.label) from the snapshot clashes with live row \(row.table)(\(clash.map(\.sqlLiteralForDisplay).joined(separator: ", "))) on UNIQUE(\(unique.joined(separator: ", "))): both have \(pairs); nothing was changed",
                        remedy: .renameOrSet(table: row.table, column: unique.last!))
                }
            }
        }
    }
}
