import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What to recover.
public struct RecoveryRequest: Sendable {
    public var table: String
    /// SQL condition on the snapshot's rows of `table`, evaluated against the snapshot copy only.
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

    /// Parses `column=value` or `table.column=value`; the value is an integer, a real, NULL, or text
    /// (quotes around text are optional).
    public static func parseSet(_ text: String) throws -> (String, SQLiteValue) {
        guard let equals = text.firstIndex(of: "="), equals != text.startIndex else {
            throw BackstopError.invalidInput("--set '\(text)': write COLUMN=VALUE or TABLE.COLUMN=VALUE")
        }
        let name = String(text[..<equals]).trimmingCharacters(in: .whitespaces)
        let raw = String(text[text.index(after: equals)...])
        let value: SQLiteValue
        if raw.uppercased() == "NULL" { value = .null }
        else if let integer = Int64(raw) { value = .integer(integer) }
        else if let real = Double(raw), raw.contains(".") { value = .real(real) }
        else if raw.count >= 2, raw.hasPrefix("'"), raw.hasSuffix("'") { value = .text(String(raw.dropFirst().dropLast()).replacingOccurrences(of: "''", with: "'")) }
        else { value = .text(raw) }
        return (name, value)
    }
}

/// One row to bring back.
public struct RecoveredRow: Sendable {
    public enum Reason: Sendable, Equatable {
        case selected
        case parent(of: String)
        case child(of: String)

        public var text: String {
            switch self {
            case .selected: return "selected"
            case .parent(let of): return "referenced by \(of)"
            case .child(let of): return "refers to \(of)"
            }
        }
    }

    public var table: String
    public var key: [SQLiteValue]
    /// Columns to insert and their values (the snapshot's, with --set applied).
    public var columns: [String]
    public var values: [SQLiteValue]
    public var reason: Reason

    public var label: String { "\(table)(\(key.map(\.sqlLiteralForDisplay).joined(separator: ", ")))" }
}

/// A live row whose foreign key is pointed back at a recovered row.
public struct Repoint: Sendable {
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
    public var rows: [RecoveredRow]
    public var repoints: [Repoint]
    /// Rows that matched the predicate but are present live (left alone).
    public var alreadyPresent: Int
    /// Per table, live columns the snapshot lacks, filled with their defaults.
    public var defaulted: [String: [String]]

    public var rowsPerTable: [(table: String, count: Int)] {
        Dictionary(grouping: rows, by: \.table).map { ($0.key, $0.value.count) }.sorted { $0.table < $1.table }
    }
}

public struct RecoveryReport: Sendable {
    public var plan: RecoveryPlan
    public var preRecover: Manifest?
    public var dryRun: Bool
}

/// Brings back rows that a snapshot holds and the live database lost, with what hangs from them,
/// in one transaction after a `pre-recover` snapshot.
public enum Recoverer {
    /// With `allowOtherDatabase` false, a snapshot of another database is refused: its rows would not
    /// belong in this one.
    public static func recover(_ snapshot: Manifest, store: SnapshotStore, database: String, request: RecoveryRequest,
                               dryRun: Bool, lockWait: TimeInterval = 30, level: Int = Snapshotter.defaultLevel,
                               allowOtherDatabase: Bool = false, progress: PhaseProgress? = nil) throws -> RecoveryReport {
        let database = FileSystem.absolute(database)
        try Database.checkIsSQLiteFile(database)
        if snapshot.database != database && !allowOtherDatabase {
            throw BackstopError.refused("snapshot \(snapshot.id) is of \(snapshot.database), not of \(database); nothing was changed",
                                        hint: "add --other-database if you really mean to copy its rows into this database")
        }
        let lock = try DatabaseLock.acquire(database, wait: lockWait)
        defer { lock.release() }
        let copy = try SnapshotCopy(snapshot, store: store, progress: progress)
        // The copy deletes its file when released: keep it alive while SQLite reads it.
        defer { withExtendedLifetime(copy) {} }
        let live = try Database(path: database, mode: .readWrite, busyTimeout: lockWait)
        try live.attach(copy.path, as: "snap")
        defer { try? live.execute("DETACH DATABASE snap") }

        if dryRun {
            let plan = try makePlan(snapshot, copy: copy, live: live, database: database, request: request)
            try checkClashes(plan, live: live)
            return RecoveryReport(plan: plan, preRecover: nil, dryRun: true)
        }

        // One write transaction from planning to commit: the plan, the pre-recover snapshot and the change
        // all see the same state, and no other write lands in between.
        return try live.withoutForeignKeyEnforcement {
            try live.inTransaction {
                let plan = try makePlan(snapshot, copy: copy, live: live, database: database, request: request)
                try checkClashes(plan, live: live)
                if plan.rows.isEmpty && plan.repoints.isEmpty {
                    return RecoveryReport(plan: plan, preRecover: nil, dryRun: false)   // nothing written
                }
                var options = SnapshotOptions(kind: "pre-recover", label: "before recovering \(request.table) rows from \(snapshot.id)")
                options.level = level
                options.lockWait = lockWait
                let pre = try Snapshotter.take(database: database, store: store, options: options,
                                               progress: progress.map(Restorer.asSafetySnapshot)).manifest
                for row in plan.rows {
                    let sql = "INSERT INTO main.\(quoteIdentifier(row.table)) (\(columnList(row.columns))) VALUES (\(row.columns.indices.map { "?\($0 + 1)" }.joined(separator: ", ")))"
                    do { try live.prepare(sql).all(row.values) } catch let error as SQLiteError where error.isConstraint {
                        throw BackstopError.refused("recovering \(row.label) failed: \(error.message); nothing was changed", hint: "see 'backstop diff' for what the live database holds")
                    }
                }
                for repoint in plan.repoints {
                    let sets = repoint.columns.enumerated().map { "\(quoteIdentifier($0.element)) = ?\($0.offset + 1)" }.joined(separator: ", ")
                    let sql = "UPDATE main.\(quoteIdentifier(repoint.table)) SET \(sets) WHERE \(matchClause(repoint.keyColumns, firstParameter: repoint.columns.count + 1))"
                    do { try live.prepare(sql).all(repoint.to + repoint.key) } catch let error as SQLiteError where error.isConstraint {
                        throw BackstopError.refused("pointing \(repoint.label) back failed: \(error.message); nothing was changed", hint: "")
                    }
                }
                let violations = try Checks.run(SQLStatement(sql: "PRAGMA main.foreign_key_check", line: 0), on: live)
                if !violations.isEmpty {
                    throw BackstopError.refused("the recovered rows would leave rows pointing at nothing; nothing was changed:\n" + violations.describe(),
                                                hint: "add --children, or recover the missing rows too")
                }
                return RecoveryReport(plan: plan, preRecover: pre, dryRun: false)
            }
        }
    }

    // MARK: - Planning

    static func makePlan(_ snapshot: Manifest, copy: SnapshotCopy, live: Database, database: String,
                         request: RecoveryRequest) throws -> RecoveryPlan {
        let snapTables = try TableSchema.all(in: live, schema: "snap")
        let liveTables = try TableSchema.all(in: live, schema: "main")
        guard let seedSnap = snapTables[request.table] else {
            throw BackstopError.invalidInput("the snapshot has no table '\(request.table)'")
        }
        guard liveTables[request.table] != nil else {
            throw BackstopError.invalidInput("the live database has no table '\(request.table)'")
        }

        // 1. The predicate runs on its own connection to the copy: read-only, query_only, one statement.
        let reader = try copy.openReadOnly()
        let selectSQL = "SELECT \(columnList(seedSnap.keyColumns)) FROM \(quoteIdentifier(request.table)) WHERE (\(request.predicate)\n)"
        let selected: [[SQLiteValue]]
        do {
            let statement = try reader.prepareSingle(selectSQL)
            guard statement.isReadOnly else { throw BackstopError.invalidInput("--where must be a condition that only reads") }
            selected = try statement.all()
        } catch let error as SQLiteError {
            throw BackstopError.invalidInput("--where cannot be used: \(error.message). Nothing was changed.")
        }

        var plan = RecoveryPlan(snapshot: snapshot, database: database, request: request, rows: [], repoints: [],
                                alreadyPresent: 0, defaulted: [:])
        var planned: Set<String> = []
        var repointed: Set<String> = []
        var queue: [(table: String, key: [SQLiteValue], reason: RecoveredRow.Reason)] = []
        func id(_ table: String, _ key: [SQLiteValue]) -> String { table + "\u{1}" + key.map(\.description).joined(separator: "\u{1}") }

        for key in selected {
            if try exists(live, schema: "main", table: request.table, columns: seedSnap.keyColumns, values: key) {
                plan.alreadyPresent += 1
            } else if planned.insert(id(request.table, key)).inserted {
                queue.append((request.table, key, .selected))
            }
        }

        // 2-4. Parents always; children and re-points when asked; transitively.
        var index = 0
        while index < queue.count {
            let (table, key, reason) = queue[index]
            index += 1
            guard let snapSchema = snapTables[table], let liveSchema = liveTables[table] else {
                throw BackstopError.invalidInput("cannot recover rows of '\(table)': the table is missing from the \(snapTables[table] == nil ? "snapshot" : "live database")")
            }
            let row = try recoveredRow(live, table: table, key: key, snap: snapSchema, live: liveSchema, request: request,
                                       reason: reason, plan: &plan)
            plan.rows.append(row)
            let valueOf = { (column: String) -> SQLiteValue? in
                if column == "rowid" && snapSchema.keyIsRowID { return key.first }
                return row.columns.firstIndex(of: column).map { row.values[$0] }
            }

            for foreignKey in liveSchema.foreignKeys {
                guard let parent = liveTables[foreignKey.parent] else { continue }
                let values = foreignKey.from.map { valueOf($0) ?? .null }
                if values.contains(where: \.isNull) { continue }
                let referenced = TableSchema.referencedColumns(foreignKey, parent: parent)
                if try exists(live, schema: "main", table: parent.name, columns: referenced, values: values) { continue }
                guard let snapParent = snapTables[parent.name],
                      let parentKey = try live.rows("SELECT \(columnList(snapParent.keyColumns)) FROM snap.\(quoteIdentifier(parent.name)) WHERE \(matchClause(referenced)) LIMIT 1", values).first else {
                    throw BackstopError.refused(
                        "\(row.label) refers to \(parent.name)(\(referenced.joined(separator: ", ")))=\(values.map(\.sqlLiteralForDisplay).joined(separator: ", ")), which neither the live database nor the snapshot holds; nothing was changed",
                        hint: "")
                }
                if planned.insert(id(parent.name, parentKey)).inserted {
                    queue.append((parent.name, parentKey, .parent(of: row.label)))
                }
            }

            guard request.children || request.repoint else { continue }
            for child in liveTables.values.sorted(by: { $0.name < $1.name }) {
                guard let snapChild = snapTables[child.name] else { continue }
                for foreignKey in child.foreignKeys where foreignKey.parent == table {
                    guard foreignKey.from.allSatisfy(snapChild.columnNames.contains) else { continue }
                    let referenced = TableSchema.referencedColumns(foreignKey, parent: liveSchema)
                    let values = referenced.map { valueOf($0) ?? .null }
                    if values.contains(where: \.isNull) { continue }
                    let children = try live.rows("SELECT \(columnList(snapChild.keyColumns)) FROM snap.\(quoteIdentifier(child.name)) WHERE \(matchClause(foreignKey.from))", values)
                    for childKey in children {
                        let liveRow = try live.rows("SELECT \(columnList(foreignKey.from)) FROM main.\(quoteIdentifier(child.name)) WHERE \(matchClause(snapChild.keyColumns))", childKey).first
                        if let liveRow {
                            if request.repoint && liveRow != values && repointed.insert(id(child.name, childKey) + "\u{2}" + foreignKey.from.joined(separator: ",")).inserted {
                                plan.repoints.append(Repoint(table: child.name, keyColumns: snapChild.keyColumns, key: childKey,
                                                             columns: foreignKey.from, from: liveRow, to: values))
                            }
                        } else if request.children && planned.insert(id(child.name, childKey)).inserted {
                            queue.append((child.name, childKey, .child(of: row.label)))
                        }
                    }
                }
            }
        }
        return plan
    }

    /// The snapshot's row, limited to the columns both schemas have, with --set applied. Fails on a
    /// live column that requires a value the snapshot cannot give.
    static func recoveredRow(_ db: Database, table: String, key: [SQLiteValue], snap: TableSchema, live: TableSchema,
                             request: RecoveryRequest, reason: RecoveredRow.Reason, plan: inout RecoveryPlan) throws -> RecoveredRow {
        var columns = snap.columnNames.filter(live.columnNames.contains)
        if snap.keyIsRowID && live.keyIsRowID && !live.withoutRowID { columns.insert("rowid", at: 0) }
        guard var values = try db.rows("SELECT \(columnList(columns)) FROM snap.\(quoteIdentifier(table)) WHERE \(matchClause(snap.keyColumns))", key).first else {
            throw BackstopError.failed("row \(table)(\(key.map(\.sqlLiteralForDisplay).joined(separator: ", "))) vanished from the snapshot copy")
        }
        for column in live.columns where !columns.contains(column.name) {
            if let value = request.sets["\(table).\(column.name)"] ?? request.sets[column.name] {
                columns.append(column.name)
                values.append(value)
            } else if column.notNull && !column.hasDefault && column.primaryKeyIndex == 0 {
                throw BackstopError.invalidInput(
                    "\(table).\(column.name) is NOT NULL without a default in the live database, and the snapshot has no such column; supply it with --set \(table).\(column.name)=VALUE. Nothing was changed.")
            } else if !(plan.defaulted[table] ?? []).contains(column.name) {
                plan.defaulted[table, default: []].append(column.name)
            }
        }
        for (index, column) in columns.enumerated() {
            if let value = request.sets["\(table).\(column)"] ?? request.sets[column], column != "rowid", !snap.primaryKey.contains(column) {
                values[index] = value
            }
        }
        return RecoveredRow(table: table, key: key, columns: columns, values: values, reason: reason)
    }

    static func exists(_ db: Database, schema: String, table: String, columns: [String], values: [SQLiteValue]) throws -> Bool {
        try db.scalar("SELECT 1 FROM \(quoteIdentifier(schema)).\(quoteIdentifier(table)) WHERE \(matchClause(columns)) LIMIT 1", values) != nil
    }

    /// Refuses, before anything changes, when a recovered row would clash with a live row on a
    /// UNIQUE constraint, naming both rows.
    static func checkClashes(_ plan: RecoveryPlan, live: Database) throws {
        let schemas = try TableSchema.all(in: live, schema: "main")
        for row in plan.rows {
            guard let schema = schemas[row.table] else { continue }
            for unique in schema.uniqueKeys where unique.allSatisfy(row.columns.contains) {
                let values = unique.map { row.values[row.columns.firstIndex(of: $0)!] }
                if values.contains(where: \.isNull) { continue }
                if let clash = try live.rows("SELECT \(columnList(schema.keyColumns)) FROM main.\(quoteIdentifier(row.table)) WHERE \(matchClause(unique)) LIMIT 1", values).first {
                    let pairs = zip(unique, values).map { "\($0)=\($1.sqlLiteralForDisplay)" }.joined(separator: ", ")
                    throw BackstopError.refused(
                        "\(row.label) from the snapshot clashes with live row \(row.table)(\(clash.map(\.sqlLiteralForDisplay).joined(separator: ", "))) on UNIQUE(\(unique.joined(separator: ", "))): both have \(pairs); nothing was changed",
                        hint: "rename or remove the live row first, or give the recovered one another value with --set \(row.table).\(unique.last!)=VALUE")
                }
            }
        }
    }
}
