import BackstopCore
import BackstopSQLite
import Foundation

/// Connection settings a migration may change with a PRAGMA (`legacy_alter_table`,
/// `defer_foreign_keys`, `recursive_triggers` ...): taken before the run and put back before each
/// migration, so that how migrations are batched (`--to`) can never change what one of them does.
struct ConnectionState {
    static let readable = ["legacy_alter_table", "defer_foreign_keys", "recursive_triggers", "ignore_check_constraints",
                           "reverse_unordered_selects", "automatic_index", "cell_size_check", "writable_schema", "trusted_schema",
                           "query_only"]
    var values: [String: Int64] = [:]

    static func capture(_ db: Database) throws -> ConnectionState {
        var state = ConnectionState()
        for name in readable {
            if let value = try db.scalar("PRAGMA \(name)")?.int64 { state.values[name] = value }
        }
        return state
    }

    func restore(_ db: Database) throws {
        for (name, value) in values.sorted(by: { $0.key < $1.key }) { try db.execute("PRAGMA \(name) = \(value)") }
        // Not readable: put back SQLite's default.
        try db.execute("PRAGMA case_sensitive_like = OFF")
    }
}

/// Foreign-key actions (ON DELETE / ON UPDATE CASCADE, SET NULL, SET DEFAULT) carried out by temporary
/// triggers, for a migration that asks for enforcement during its own statements: `PRAGMA foreign_keys`
/// cannot change inside the run's transaction, where enforcement is off. RESTRICT and NO ACTION need
/// nothing here: `PRAGMA foreign_key_check` after the migration finds what they would have refused.
enum ForeignKeyActions {
    struct Key {
        var child: String
        var parent: String
        var childColumns: [String]
        var parentColumns: [String]
        var onDelete: String
        var onUpdate: String
    }

    static func keys(_ db: Database) throws -> [Key] {
        var keys: [Key] = []
        for row in try db.rows("SELECT name FROM main.sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name") {
            guard let table = row[0].string else { continue }
            let list = try db.rows("SELECT id, seq, \"table\", \"from\", \"to\", on_update, on_delete FROM pragma_foreign_key_list(?1) ORDER BY id, seq",
                                   [.text(table)])
            for (_, group) in Dictionary(grouping: list, by: { $0[0].int64 ?? 0 }).sorted(by: { $0.key < $1.key }) {
                guard let parent = group[0][2].string else { continue }
                var to = group.map { $0[4].string }
                if to.contains(where: { $0 == nil }) {
                    // No parent columns named: the parent's primary key.
                    let pk = try db.rows("SELECT name FROM pragma_table_info(?1) WHERE pk > 0 ORDER BY pk", [.text(parent)]).compactMap { $0[0].string }
                    guard pk.count == group.count else { continue }
                    to = pk
                }
                keys.append(Key(child: table, parent: parent, childColumns: group.compactMap { $0[3].string }, parentColumns: to.compactMap { $0 },
                                onDelete: (group[0][6].string ?? "NO ACTION").uppercased(), onUpdate: (group[0][5].string ?? "NO ACTION").uppercased()))
            }
        }
        return keys
    }

    /// Creates the triggers; returns their names (to drop afterwards).
    static func install(_ db: Database) throws -> [String] {
        var names: [String] = []
        for (index, key) in try keys(db).enumerated() {
            let match = zip(key.childColumns, key.parentColumns).map { "\(quoteIdentifier($0)) = OLD.\(quoteIdentifier($1))" }.joined(separator: " AND ")
            let defaults = try Dictionary(uniqueKeysWithValues: db.rows("SELECT name, dflt_value FROM pragma_table_info(?1)", [.text(key.child)])
                .compactMap { row in row[0].string.map { ($0, row[1].string ?? "NULL") } })
            func action(_ kind: String, newValues: Bool) -> String? {
                // A TEMP trigger's body cannot name a schema; nothing in temp shadows the app's tables.
                let child = quoteIdentifier(key.child)
                switch kind {
                case "CASCADE":
                    if !newValues { return "DELETE FROM \(child) WHERE \(match);" }
                    let sets = zip(key.childColumns, key.parentColumns).map { "\(quoteIdentifier($0)) = NEW.\(quoteIdentifier($1))" }.joined(separator: ", ")
                    return "UPDATE \(child) SET \(sets) WHERE \(match);"
                case "SET NULL":
                    return "UPDATE \(child) SET \(key.childColumns.map { "\(quoteIdentifier($0)) = NULL" }.joined(separator: ", ")) WHERE \(match);"
                case "SET DEFAULT":
                    return "UPDATE \(child) SET \(key.childColumns.map { "\(quoteIdentifier($0)) = \(defaults[$0] ?? "NULL")" }.joined(separator: ", ")) WHERE \(match);"
                default:
                    return nil
                }
            }
            let parent = "main.\(quoteIdentifier(key.parent))"
            if let body = action(key.onDelete, newValues: false) {
                let name = "backstop_fk_delete_\(index)"
                try db.execute("CREATE TEMP TRIGGER \(quoteIdentifier(name)) AFTER DELETE ON \(parent) BEGIN \(body) END")
                names.append(name)
            }
            if let body = action(key.onUpdate, newValues: true) {
                let name = "backstop_fk_update_\(index)"
                let changed = key.parentColumns.map { "OLD.\(quoteIdentifier($0)) IS NOT NEW.\(quoteIdentifier($0))" }.joined(separator: " OR ")
                try db.execute("""
                    CREATE TEMP TRIGGER \(quoteIdentifier(name)) AFTER UPDATE OF \(key.parentColumns.map(quoteIdentifier).joined(separator: ", ")) ON \(parent)
                    WHEN \(changed) BEGIN \(body) END
                    """)
                names.append(name)
            }
        }
        // A self-referencing key cascades through its own trigger.
        if !names.isEmpty { try db.execute("PRAGMA recursive_triggers = ON") }
        return names
    }

    static func remove(_ names: [String], from db: Database) throws {
        for name in names { try db.execute("DROP TRIGGER IF EXISTS temp.\(quoteIdentifier(name))") }
    }
}
