import BackstopCore
import BackstopSQLite
import Foundation

/// What recovery and diff need to know about one table: columns, key, foreign keys, unique indexes.
public struct TableSchema: Equatable, Sendable {
    public struct Column: Equatable, Sendable {
        public var name: String
        public var notNull: Bool
        public var hasDefault: Bool
        /// 1-based position in the primary key, 0 when not part of it.
        public var primaryKeyIndex: Int
    }

    public struct ForeignKey: Equatable, Sendable {
        public var parent: String
        public var from: [String]
        /// Parent columns; empty means the parent's primary key.
        public var to: [String]
    }

    public var name: String
    public var withoutRowID: Bool
    /// Ordinary stored columns (generated and hidden columns are left out).
    public var columns: [Column]
    public var foreignKeys: [ForeignKey]
    /// Column lists of UNIQUE constraints and unique indexes (primary key included).
    public var uniqueKeys: [[String]]

    public var columnNames: [String] { columns.map(\.name) }
    public var primaryKey: [String] { columns.filter { $0.primaryKeyIndex > 0 }.sorted { $0.primaryKeyIndex < $1.primaryKeyIndex }.map(\.name) }

    /// True when the key is the rowid itself (a rowid table without a declared primary key).
    public var keyIsRowID: Bool { primaryKey.isEmpty && !withoutRowID }

    /// The name that reaches this table's rowid: `rowid`, `oid` or `_rowid_`, whichever no real column
    /// shadows (a column may well be called `rowid`); nil when all three are columns, or for WITHOUT
    /// ROWID tables.
    public var rowidAlias: String? {
        guard !withoutRowID else { return nil }
        let names = Set(columnNames.map { $0.lowercased() })
        return ["rowid", "oid", "_rowid_"].first { !names.contains($0) }
    }

    /// The columns that identify a row: the primary key, or the rowid (by its unshadowed alias) for
    /// tables without one. Empty when rows cannot be identified (every rowid alias is a real column).
    public var keyColumns: [String] {
        if !primaryKey.isEmpty { return primaryKey }
        return rowidAlias.map { [$0] } ?? []
    }

    /// Column `name`, compared as SQLite does (case-insensitively).
    public func column(named name: String) -> Column? {
        columns.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }

    /// Reads the schema of every ordinary table in `schema` (`main`, or an attached name).
    public static func all(in db: Database, schema: String = "main") throws -> [String: TableSchema] {
        let q = quoteIdentifier(schema)
        var tables: [String: TableSchema] = [:]
        let rows = try db.rows("SELECT name, sql FROM \(q).sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        for row in rows {
            guard let name = row[0].string, let sql = row[1].string else { continue }
            if sql.uppercased().hasPrefix("CREATE VIRTUAL") { continue }
            tables[name] = try read(name, in: db, schema: schema)
        }
        return tables
    }

    static func read(_ table: String, in db: Database, schema: String) throws -> TableSchema {
        let q = quoteIdentifier(schema)
        let t = "'" + table.replacingOccurrences(of: "'", with: "''") + "'"
        var columns: [Column] = []
        // table_xinfo: cid, name, type, notnull, dflt_value, pk, hidden
        for row in try db.rows("PRAGMA \(q).table_xinfo(\(t))") where (row[6].int64 ?? 0) == 0 {
            columns.append(Column(name: row[1].string ?? "", notNull: (row[3].int64 ?? 0) != 0, hasDefault: !row[4].isNull,
                                  primaryKeyIndex: Int(row[5].int64 ?? 0)))
        }
        var byID: [Int64: ForeignKey] = [:]
        // foreign_key_list: id, seq, table, from, to, on_update, on_delete, match
        for row in try db.rows("PRAGMA \(q).foreign_key_list(\(t))") {
            let id = row[0].int64 ?? 0
            var key = byID[id] ?? ForeignKey(parent: row[2].string ?? "", from: [], to: [])
            key.from.append(row[3].string ?? "")
            if let to = row[4].string { key.to.append(to) }
            byID[id] = key
        }
        var uniqueKeys: [[String]] = []
        // index_list: seq, name, unique, origin, partial
        for row in try db.rows("PRAGMA \(q).index_list(\(t))") where (row[2].int64 ?? 0) == 1 && (row[4].int64 ?? 0) == 0 {
            let index = "'" + (row[1].string ?? "").replacingOccurrences(of: "'", with: "''") + "'"
            let names = try db.rows("PRAGMA \(q).index_info(\(index))").compactMap { $0[2].string }
            if !names.isEmpty { uniqueKeys.append(names) }
        }
        let withoutRowID = try db.scalar("SELECT sql FROM \(q).sqlite_schema WHERE type = 'table' AND name = ?1", [.text(table)])?
            .string.map { $0.uppercased().replacingOccurrences(of: " ", with: "").contains("WITHOUTROWID") } ?? false
        var schemaInfo = TableSchema(name: table, withoutRowID: withoutRowID, columns: columns,
                                     foreignKeys: byID.keys.sorted().map { byID[$0]! }, uniqueKeys: uniqueKeys)
        if !schemaInfo.primaryKey.isEmpty && !uniqueKeys.contains(schemaInfo.primaryKey) {
            schemaInfo.uniqueKeys.insert(schemaInfo.primaryKey, at: 0)
        }
        return schemaInfo
    }

    /// The parent columns a foreign key points at (its `to`, or the parent's primary key).
    public static func referencedColumns(_ key: ForeignKey, parent: TableSchema) -> [String] {
        key.to.isEmpty ? parent.keyColumns : key.to
    }
}

extension Dictionary where Key == String, Value == TableSchema {
    /// The table of that name, compared as SQLite compares identifiers (case-insensitively).
    func table(named name: String) -> TableSchema? {
        self[name] ?? values.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }
    }
}

/// `"a" IS ?1 AND "b" IS ?2`: matching rows by a list of columns, NULLs included.
func matchClause(_ columns: [String], alias: String? = nil, firstParameter: Int = 1) -> String {
    columns.enumerated().map { offset, column in
        "\(alias.map { $0 + "." } ?? "")\(quoteIdentifier(column)) IS ?\(firstParameter + offset)"
    }.joined(separator: " AND ")
}

func columnList(_ columns: [String], alias: String? = nil) -> String {
    columns.map { (alias.map { $0 + "." } ?? "") + quoteIdentifier($0) }.joined(separator: ", ")
}
