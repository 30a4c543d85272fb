import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// Reads where an application's own migrator has brought a database, from that migrator's history
/// table: Alembic, Django, drizzle, Prisma, Knex, diesel, sqlx, golang-migrate, dbmate (and Rails),
/// goose, Flyway, GRDB and Fluent; `PRAGMA user_version` when none of them is there. Read-only queries,
/// each on the tool's documented table and columns; a table that does not look like the tool's is not
/// taken for it.
public enum AppMigrators {
    /// One migrator's table, and how to read it.
    struct Detector: Sendable {
        var tool: String
        var table: String
        /// Columns the table must have to be this tool's.
        var columns: Set<String>
        var read: @Sendable (Database, Set<String>) throws -> AppMigrationState
    }

    /// The tools in the order they are tried: the first whose table is there wins (user_version last).
    static let detectors: [Detector] = [
        Detector(tool: "alembic", table: "alembic_version", columns: ["version_num"]) { db, _ in
            // One row per head; several heads after a branch.
            let heads = try db.rows("SELECT version_num FROM alembic_version ORDER BY version_num").compactMap { $0[0].string }
            return AppMigrationState(tool: "alembic", version: heads.isEmpty ? nil : heads.joined(separator: ","))
        },
        Detector(tool: "django", table: "django_migrations", columns: ["app", "name", "applied"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM django_migrations")
            let last = try db.rows("SELECT app, name FROM django_migrations ORDER BY id DESC LIMIT 1").first
            return AppMigrationState(tool: "django", version: last.map { "\($0[0].string ?? "").\($0[1].string ?? "")" }, applied: Int(count))
        },
        Detector(tool: "drizzle", table: "__drizzle_migrations", columns: ["hash", "created_at"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM __drizzle_migrations")
            let last = try db.scalar("SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC, id DESC LIMIT 1")
            return AppMigrationState(tool: "drizzle", version: last.flatMap(text), applied: Int(count))
        },
        Detector(tool: "prisma", table: "_prisma_migrations", columns: ["migration_name", "finished_at", "rolled_back_at"]) { db, _ in
            let applied = try db.int("SELECT count(*) FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL")
            let last = try db.scalar("""
                SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL
                ORDER BY finished_at DESC, migration_name DESC LIMIT 1
                """)
            let failed = try db.rows("SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NULL AND rolled_back_at IS NULL")
                .compactMap { $0[0].string }
            return AppMigrationState(tool: "prisma", version: last.flatMap(text), applied: Int(applied), dirty: !failed.isEmpty,
                                     problem: failed.isEmpty ? nil : "failed migration\(failed.count == 1 ? "" : "s") not rolled back: \(failed.joined(separator: ", "))")
        },
        Detector(tool: "knex", table: "knex_migrations", columns: ["name", "batch"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM knex_migrations")
            let last = try db.scalar("SELECT name FROM knex_migrations ORDER BY id DESC LIMIT 1")
            var locked = false
            if try db.tableExists("knex_migrations_lock") {
                locked = (try db.scalar("SELECT max(is_locked) FROM knex_migrations_lock")?.int64 ?? 0) != 0
            }
            return AppMigrationState(tool: "knex", version: last.flatMap(text), applied: Int(count), dirty: locked,
                                     problem: locked ? "knex_migrations_lock is held: a migration run did not finish" : nil)
        },
        Detector(tool: "diesel", table: "__diesel_schema_migrations", columns: ["version", "run_on"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM __diesel_schema_migrations")
            let last = try db.scalar("SELECT version FROM __diesel_schema_migrations ORDER BY version DESC LIMIT 1")
            return AppMigrationState(tool: "diesel", version: last.flatMap(text), applied: Int(count))
        },
        Detector(tool: "sqlx", table: "_sqlx_migrations", columns: ["version", "success"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM _sqlx_migrations WHERE success")
            let last = try db.scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version DESC LIMIT 1")
            let failed = try db.rows("SELECT version FROM _sqlx_migrations WHERE NOT success ORDER BY version").compactMap { $0[0].int64 }
            return AppMigrationState(tool: "sqlx", version: last.flatMap(text), applied: Int(count), dirty: !failed.isEmpty,
                                     problem: failed.isEmpty ? nil : "failed migration\(failed.count == 1 ? "" : "s"): \(failed.map(String.init).joined(separator: ", "))")
        },
        Detector(tool: "golang-migrate", table: "schema_migrations", columns: ["version", "dirty"]) { db, _ in
            // One row: the current version and whether its migration stopped halfway.
            let row = try db.rows("SELECT version, dirty FROM schema_migrations LIMIT 1").first
            let dirty = (row?[1].int64 ?? 0) != 0
            let version = row.flatMap { text($0[0]) }
            return AppMigrationState(tool: "golang-migrate", version: version, dirty: dirty,
                                     problem: dirty ? "dirty at version \(version ?? "?"): its migration stopped halfway" : nil)
        },
        Detector(tool: "dbmate", table: "schema_migrations", columns: ["version"]) { db, _ in
            // dbmate and Rails: one row per applied version.
            let count = try db.int("SELECT count(*) FROM schema_migrations")
            let last = try db.scalar("SELECT version FROM schema_migrations ORDER BY version DESC LIMIT 1")
            return AppMigrationState(tool: "dbmate", version: last.flatMap(text), applied: Int(count))
        },
        Detector(tool: "goose", table: "goose_db_version", columns: ["version_id", "is_applied"]) { db, _ in
            // goose appends a row per apply and per undo; the newest row of each version says where it is.
            let applied = try db.rows("""
                SELECT version_id FROM goose_db_version g
                WHERE id = (SELECT max(id) FROM goose_db_version h WHERE h.version_id = g.version_id) AND is_applied AND version_id > 0
                ORDER BY version_id
                """).compactMap { $0[0].int64 }
            return AppMigrationState(tool: "goose", version: applied.last.map(String.init), applied: applied.count)
        },
        Detector(tool: "flyway", table: "flyway_schema_history", columns: ["installed_rank", "version", "success"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM flyway_schema_history WHERE success AND version IS NOT NULL")
            let last = try db.scalar("SELECT version FROM flyway_schema_history WHERE success AND version IS NOT NULL ORDER BY installed_rank DESC LIMIT 1")
            let failed = try db.rows("SELECT coalesce(version, description) FROM flyway_schema_history WHERE NOT success ORDER BY installed_rank")
                .compactMap { $0[0].string }
            return AppMigrationState(tool: "flyway", version: last.flatMap(text), applied: Int(count), dirty: !failed.isEmpty,
                                     problem: failed.isEmpty ? nil : "failed migration\(failed.count == 1 ? "" : "s") (flyway repair removes the record): \(failed.joined(separator: ", "))")
        },
        Detector(tool: "grdb", table: "grdb_migrations", columns: ["identifier"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM grdb_migrations")
            let last = try db.scalar("SELECT identifier FROM grdb_migrations ORDER BY rowid DESC LIMIT 1")
            return AppMigrationState(tool: "grdb", version: last.flatMap(text), applied: Int(count))
        },
        Detector(tool: "fluent", table: "_fluent_migrations", columns: ["name", "batch"]) { db, _ in
            let count = try db.int("SELECT count(*) FROM _fluent_migrations")
            let last = try db.scalar("SELECT name FROM _fluent_migrations ORDER BY batch DESC, rowid DESC LIMIT 1")
            return AppMigrationState(tool: "fluent", version: last.flatMap(text), applied: Int(count))
        },
    ]

    static func text(_ value: SQLiteValue) -> String? {
        switch value {
        case .null: return nil
        case .integer(let n): return String(n)
        case .real(let x): return String(x)
        case .text(let s): return s
        case .blob(let b): return b.map { String(format: "%02x", $0) }.joined()
        }
    }

    /// Where the application's migrator has brought `db`, or nil when no known migrator's table is there
    /// and `PRAGMA user_version` is 0.
    public static func detect(_ db: Database) throws -> AppMigrationState? {
        let tables = Set(try db.rows("SELECT name FROM sqlite_schema WHERE type = 'table'").compactMap { $0[0].string })
        for detector in detectors where tables.contains(detector.table) {
            let columns = Set(try db.rows("SELECT name FROM pragma_table_info(?1)", [.text(detector.table)]).compactMap { $0[0].string?.lowercased() })
            guard detector.columns.isSubset(of: columns) else { continue }
            return try detector.read(db, columns)
        }
        let userVersion = try db.int("PRAGMA user_version")
        return userVersion == 0 ? nil : AppMigrationState(tool: "user_version", version: String(userVersion))
    }

    /// The tools Backstop recognises, by name.
    public static var toolNames: [String] { detectors.map(\.tool) + ["user_version"] }
}
