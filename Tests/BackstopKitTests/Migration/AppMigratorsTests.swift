import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Every migrator's history table, as the tool writes it (emulated where the tool itself cannot be
/// installed here), read into the same state.
final class AppMigratorsTests: BackstopTestCase {
    func detect(_ sql: String, file: StaticString = #filePath, line: UInt = #line) throws -> AppMigrationState? {
        let name = "db-\(UUID().uuidString).db"
        let db = try Database(path: path(name), mode: .create)
        try db.execute(sql)
        return try AppMigrators.detect(db)
    }

    func testEveryKnownMigratorIsReadFromItsOwnTable() throws {
        XCTAssertEqual(try detect("CREATE TABLE alembic_version(version_num VARCHAR(32) NOT NULL PRIMARY KEY); INSERT INTO alembic_version VALUES ('ae1027a6acf')"),
                       AppMigrationState(tool: "alembic", version: "ae1027a6acf"))
        XCTAssertEqual(try detect("""
            CREATE TABLE django_migrations(id INTEGER PRIMARY KEY AUTOINCREMENT, app VARCHAR(255), name VARCHAR(255), applied DATETIME);
            INSERT INTO django_migrations(app, name, applied) VALUES ('auth', '0001_initial', '2026-01-01'), ('shop', '0002_price', '2026-01-02');
            """), AppMigrationState(tool: "django", version: "shop.0002_price", applied: 2))
        XCTAssertEqual(try detect("""
            CREATE TABLE __drizzle_migrations(id INTEGER PRIMARY KEY, hash TEXT NOT NULL, created_at NUMERIC);
            INSERT INTO __drizzle_migrations(hash, created_at) VALUES ('a1', 1700000000000), ('b2', 1700000500000);
            """), AppMigrationState(tool: "drizzle", version: "1700000500000", applied: 2))
        XCTAssertEqual(try detect("""
            CREATE TABLE _prisma_migrations(id TEXT PRIMARY KEY, checksum TEXT, finished_at DATETIME, migration_name TEXT, logs TEXT,
                                            rolled_back_at DATETIME, started_at DATETIME, applied_steps_count INTEGER);
            INSERT INTO _prisma_migrations VALUES ('1', 'c', '2026-01-01', '20260101_init', NULL, NULL, '2026-01-01', 1),
                                                  ('2', 'c', NULL, '20260201_add_email', 'error', NULL, '2026-02-01', 0);
            """), AppMigrationState(tool: "prisma", version: "20260101_init", applied: 1, dirty: true,
                                    problem: "failed migration not rolled back: 20260201_add_email"))
        XCTAssertEqual(try detect("""
            CREATE TABLE knex_migrations(id INTEGER PRIMARY KEY, name TEXT, batch INTEGER, migration_time DATETIME);
            CREATE TABLE knex_migrations_lock(`index` INTEGER PRIMARY KEY, is_locked INTEGER);
            INSERT INTO knex_migrations(name, batch) VALUES ('20260101_users.js', 1); INSERT INTO knex_migrations_lock VALUES (1, 0);
            """), AppMigrationState(tool: "knex", version: "20260101_users.js", applied: 1))
        XCTAssertEqual(try detect("""
            CREATE TABLE __diesel_schema_migrations(version VARCHAR(50) PRIMARY KEY, run_on TIMESTAMP);
            INSERT INTO __diesel_schema_migrations VALUES ('20260101000000', '2026-01-01'), ('20260301000000', '2026-03-01');
            """), AppMigrationState(tool: "diesel", version: "20260301000000", applied: 2))
        XCTAssertEqual(try detect("""
            CREATE TABLE _sqlx_migrations(version BIGINT PRIMARY KEY, description TEXT, installed_on TIMESTAMP, success BOOLEAN, checksum BLOB, execution_time BIGINT);
            INSERT INTO _sqlx_migrations VALUES (1, 'init', '2026-01-01', 1, x'00', 5), (2, 'broken', '2026-01-02', 0, x'00', 5);
            """), AppMigrationState(tool: "sqlx", version: "1", applied: 1, dirty: true, problem: "failed migration: 2"))
        XCTAssertEqual(try detect("CREATE TABLE schema_migrations(version uint64, dirty bool); INSERT INTO schema_migrations VALUES (7, 1)"),
                       AppMigrationState(tool: "golang-migrate", version: "7", dirty: true, problem: "dirty at version 7: its migration stopped halfway"))
        XCTAssertEqual(try detect("CREATE TABLE schema_migrations(version VARCHAR(128) PRIMARY KEY); INSERT INTO schema_migrations VALUES ('20260101120000'), ('20260102120000')"),
                       AppMigrationState(tool: "dbmate", version: "20260102120000", applied: 2))
        XCTAssertEqual(try detect("""
            CREATE TABLE goose_db_version(id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP);
            INSERT INTO goose_db_version(version_id, is_applied) VALUES (0, 1), (1, 1), (2, 1), (2, 0);
            """), AppMigrationState(tool: "goose", version: "1", applied: 1))
        XCTAssertEqual(try detect("""
            CREATE TABLE flyway_schema_history(installed_rank INT PRIMARY KEY, version VARCHAR(50), description VARCHAR(200), type VARCHAR(20),
                                               script VARCHAR(1000), checksum INT, installed_by VARCHAR(100), installed_on TEXT, execution_time INT, success BOOLEAN);
            INSERT INTO flyway_schema_history VALUES (1, '1', 'init', 'SQL', 'V1__init.sql', 1, 'me', '2026-01-01', 3, 1),
                                                     (2, '2', 'users', 'SQL', 'V2__users.sql', 1, 'me', '2026-01-02', 3, 0);
            """), AppMigrationState(tool: "flyway", version: "1", applied: 1, dirty: true,
                                    problem: "failed migration (flyway repair removes the record): 2"))
        XCTAssertEqual(try detect("CREATE TABLE grdb_migrations(identifier TEXT NOT NULL PRIMARY KEY); INSERT INTO grdb_migrations VALUES ('v1'), ('v2-add-email')"),
                       AppMigrationState(tool: "grdb", version: "v2-add-email", applied: 2))
        XCTAssertEqual(try detect("""
            CREATE TABLE _fluent_migrations(id TEXT PRIMARY KEY, name TEXT NOT NULL, batch INTEGER NOT NULL, created_at TEXT, updated_at TEXT);
            INSERT INTO _fluent_migrations VALUES ('a', 'CreateTodo', 1, NULL, NULL), ('b', 'AddTags', 2, NULL, NULL);
            """), AppMigrationState(tool: "fluent", version: "AddTags", applied: 2))
        XCTAssertEqual(try detect("CREATE TABLE t(x); PRAGMA user_version = 12"), AppMigrationState(tool: "user_version", version: "12"))
        XCTAssertNil(try detect("CREATE TABLE t(x)"))
        // A table of the right name with other columns is not taken for the tool's.
        XCTAssertNil(try detect("CREATE TABLE alembic_version(something_else TEXT)"))
    }

    func testSnapshotsRecordTheMigratorsVersion() throws {
        let db = try makeDatabase(rows: 10)
        try execute(db, "CREATE TABLE alembic_version(version_num TEXT PRIMARY KEY); INSERT INTO alembic_version VALUES ('0003')")
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try Snapshotter.take(database: db, store: store, options: SnapshotOptions()).manifest
        XCTAssertEqual(manifest.appMigrations, AppMigrationState(tool: "alembic", version: "0003"))
    }

    /// An app that migrates itself at start-up: the closure's error is a failure, and the database is restored.
    func testTheLibraryProtectsAClosureAndRestoresWhenItThrows() throws {
        let db = try makeDatabase(rows: 10)
        try execute(db, "PRAGMA user_version = 1")
        let store = try SnapshotStore(path: path("store"), create: true)
        let before = try contentDigest(db)
        struct MigrationBroke: Error {}
        XCTAssertThrowsError(try ProtectedRun.protect(database: db, store: store, options: ProtectedRunOptions(description: "migrator")) { path in
            try Database(path: path, mode: .readWrite).execute("DELETE FROM items; PRAGMA user_version = 2")
            throw MigrationBroke()
        }) { error in
            let report = (error as? ProtectedRunFailed)?.report
            XCTAssertNotNil(report?.restored)
            XCTAssertEqual(report?.failures.count, 1)
        }
        XCTAssertEqual(try contentDigest(db), before)
        let report = try ProtectedRun.protect(database: db, store: store, options: ProtectedRunOptions(description: "migrator")) { path in
            try Database(path: path, mode: .readWrite).execute("INSERT INTO items(name) VALUES ('new'); PRAGMA user_version = 2")
        }
        XCTAssertTrue(report.succeeded)
        XCTAssertEqual(report.after, AppMigrationState(tool: "user_version", version: "2"))
        XCTAssertEqual(report.record?.run, 1)
        XCTAssertEqual(try count(db), 11)
    }
}
