import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What to compare a snapshot with.
public enum DiffSide: Sendable {
    case live(String)
    case snapshot(Manifest)
}

/// Row differences of one table, matched by key.
public struct TableDiff: Sendable {
    public var table: String
    /// The columns rows are matched by (`rowid` for tables without a primary key).
    public var key: [String]
    /// Rows in the snapshot that the other side no longer has.
    public var deleted: Int64
    /// Rows the other side has that the snapshot lacks.
    public var inserted: Int64
    /// Rows with the same key and other values (in the columns both sides have).
    public var changed: Int64
    /// Why rows could not be compared, if they could not.
    public var note: String?
    /// With a table selected: the rows themselves (up to the limit).
    public var rows: DiffRows?
}

public struct DiffRows: Sendable {
    public var columns: [String]
    public var deleted: [[SQLiteValue]]
    public var inserted: [[SQLiteValue]]
    /// (key values, snapshot row, other row)
    public var changed: [(key: [SQLiteValue], before: [SQLiteValue], after: [SQLiteValue])]
    public var truncated: Bool
}

public struct SchemaDiff: Sendable {
    public var tablesAdded: [String] = []
    public var tablesRemoved: [String] = []
    public var columnsAdded: [String: [String]] = [:]
    public var columnsRemoved: [String: [String]] = [:]
    public var isEmpty: Bool { tablesAdded.isEmpty && tablesRemoved.isEmpty && columnsAdded.isEmpty && columnsRemoved.isEmpty }
}

public struct DiffReport: Sendable {
    public var snapshot: Manifest
    /// `live` or the other snapshot's id.
    public var against: String
    public var tables: [TableDiff]
    public var schema: SchemaDiff
}

/// Compares a snapshot with the live database or another snapshot, table by table, by key.
/// Snapshots are read in place (nothing is decompressed to disk); the live database is opened read-only.
/// SQLite matches rows through the tables' keys, so memory does not grow with the tables.
public enum Differ {
    public static func diff(_ snapshot: Manifest, against other: DiffSide, store: any SnapshotRepository, table: String? = nil,
                            rowLimit: Int = 1000, progress: PhaseProgress? = nil) throws -> DiffReport {
        let old = try SnapshotFile(snapshot, in: store)
        let db: Database
        let againstName: String
        switch other {
        case .live(let path):
            let newerPath = FileSystem.absolute(path)
            try Database.checkIsSQLiteFile(newerPath)
            db = try Database.openForReading(newerPath)
            try db.execute("PRAGMA query_only = ON")
            db.enableStandIns()
            againstName = "live"
        case .snapshot(let manifest):
            db = try SnapshotFile(manifest, in: store).openDatabase()
            againstName = manifest.id
        }
        try old.attach(to: db, as: "snap")
        defer { try? db.execute("DETACH DATABASE snap") }
        return try db.inReadTransaction {
            try diff(db, snapshot: snapshot, against: againstName, table: table, rowLimit: rowLimit)
        }
    }

    /// Diffs `snap` (attached) against `main` on one connection.
    static func diff(_ db: Database, snapshot: Manifest, against: String, table: String?, rowLimit: Int) throws -> DiffReport {
        let before = try TableSchema.all(in: db, schema: "snap")
        let after = try TableSchema.all(in: db, schema: "main")
        var schema = SchemaDiff()
        schema.tablesRemoved = before.keys.filter { after[$0] == nil && $0 != MigrationHistory.table }.sorted()
        schema.tablesAdded = after.keys.filter { before[$0] == nil && $0 != MigrationHistory.table }.sorted()
        if let table, before[table] == nil && after[table] == nil {
            throw BackstopError.invalidInput("there is no table '\(table)' in the snapshot or the database")
        }
        var tables: [TableDiff] = []
        for name in Set(before.keys).intersection(after.keys).sorted() where table == nil || table == name {
            let old = before[name]!, new = after[name]!
            let added = new.columnNames.filter { !old.columnNames.contains($0) }
            let removed = old.columnNames.filter { !new.columnNames.contains($0) }
            if !added.isEmpty { schema.columnsAdded[name] = added }
            if !removed.isEmpty { schema.columnsRemoved[name] = removed }
            tables.append(try diffTable(db, old: old, new: new, listRows: table == name, rowLimit: rowLimit))
        }
        // A table only on one side: every row is deleted (or inserted).
        for name in schema.tablesRemoved where table == nil || table == name {
            let count = try db.int("SELECT count(*) FROM snap.\(quoteIdentifier(name))")
            tables.append(TableDiff(table: name, key: before[name]!.keyColumns, deleted: count, inserted: 0, changed: 0,
                                    note: "table removed since the snapshot", rows: nil))
        }
        for name in schema.tablesAdded where table == nil || table == name {
            let count = try db.int("SELECT count(*) FROM main.\(quoteIdentifier(name))")
            tables.append(TableDiff(table: name, key: after[name]!.keyColumns, deleted: 0, inserted: count, changed: 0,
                                    note: "table added since the snapshot", rows: nil))
        }
        if let table {
            schema.tablesAdded = schema.tablesAdded.filter { $0 == table }
            schema.tablesRemoved = schema.tablesRemoved.filter { $0 == table }
            schema.columnsAdded = schema.columnsAdded.filter { $0.key == table }
            schema.columnsRemoved = schema.columnsRemoved.filter { $0.key == table }
        }
        return DiffReport(snapshot: snapshot, against: against, tables: tables.sorted { $0.table < $1.table }, schema: schema)
    }

    static func diffTable(_ db: Database, old: TableSchema, new: TableSchema, listRows: Bool, rowLimit: Int) throws -> TableDiff {
        let name = quoteIdentifier(old.name)
        // Match by the snapshot's key when the live table still has those columns; rowid tables by their
        // rowid, reached on each side through a name no real column shadows.
        let oldKey: [String], newKey: [String]
        if old.keyIsRowID && new.keyIsRowID, let oldAlias = old.rowidAlias, let newAlias = new.rowidAlias {
            oldKey = [oldAlias]
            newKey = [newAlias]
        } else if !old.primaryKey.isEmpty && old.primaryKey.allSatisfy({ new.column(named: $0) != nil }) {
            oldKey = old.primaryKey
            newKey = old.primaryKey
        } else {
            let why = old.keyColumns.isEmpty || new.keyColumns.isEmpty
                ? "rows cannot be matched: no primary key, and columns named rowid, oid and _rowid_ hide the rowid"
                : "rows cannot be matched: the key changed since the snapshot"
            return TableDiff(table: old.name, key: old.keyColumns, deleted: 0, inserted: 0, changed: 0, note: why, rows: nil)
        }
        let key = oldKey
        // IS, not =: a rowid table's primary key may hold NULLs, and NULL = NULL is never true.
        let join = zip(oldKey, newKey).map { "m.\(quoteIdentifier($1)) IS s.\(quoteIdentifier($0))" }.joined(separator: " AND ")
        let common = old.columnNames.filter { new.column(named: $0) != nil }
        let compared = common.filter { column in !key.contains { $0.caseInsensitiveCompare(column) == .orderedSame } }
        let differs = compared.isEmpty ? "0" : compared.map { "s.\(quoteIdentifier($0)) IS NOT m.\(quoteIdentifier($0))" }.joined(separator: " OR ")

        let deletedSQL = "FROM snap.\(name) AS s WHERE NOT EXISTS (SELECT 1 FROM main.\(name) AS m WHERE \(join))"
        let insertedSQL = "FROM main.\(name) AS m WHERE NOT EXISTS (SELECT 1 FROM snap.\(name) AS s WHERE \(join))"
        let changedSQL = "FROM snap.\(name) AS s JOIN main.\(name) AS m ON \(join) WHERE \(differs)"
        var diff = TableDiff(table: old.name, key: key,
                             deleted: try db.int("SELECT count(*) " + deletedSQL),
                             inserted: try db.int("SELECT count(*) " + insertedSQL),
                             changed: try db.int("SELECT count(*) " + changedSQL), note: nil, rows: nil)
        if listRows {
            let shown = (old.keyIsRowID ? oldKey : []) + common
            let shownNew = (old.keyIsRowID ? newKey : []) + common
            var rows = DiffRows(columns: shown, deleted: [], inserted: [], changed: [], truncated: false)
            let limit = rowLimit + 1
            rows.deleted = try db.rows("SELECT \(columnList(shown, alias: "s")) \(deletedSQL) ORDER BY \(columnList(key, alias: "s")) LIMIT \(limit)")
            rows.inserted = try db.rows("SELECT \(columnList(shownNew, alias: "m")) \(insertedSQL) ORDER BY \(columnList(newKey, alias: "m")) LIMIT \(limit)")
            let pairs = try db.rows("SELECT \(columnList(key, alias: "s")), \(columnList(shown, alias: "s")), \(columnList(shownNew, alias: "m")) \(changedSQL) ORDER BY \(columnList(key, alias: "s")) LIMIT \(limit)")
            rows.changed = pairs.map { row in
                (Array(row[0..<key.count]), Array(row[key.count..<key.count + shown.count]), Array(row[(key.count + shown.count)...]))
            }
            rows.truncated = rows.deleted.count > rowLimit || rows.inserted.count > rowLimit || rows.changed.count > rowLimit
            rows.deleted = Array(rows.deleted.prefix(rowLimit))
            rows.inserted = Array(rows.inserted.prefix(rowLimit))
            rows.changed = Array(rows.changed.prefix(rowLimit))
            diff.rows = rows
        }
        return diff
    }
}
