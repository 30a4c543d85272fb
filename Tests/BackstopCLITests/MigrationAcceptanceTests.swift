import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// What real migration sets contain is accepted (with a note) when Backstop can do it safely, and every
/// problem is reported at once when it cannot.
final class MigrationAcceptanceTests: BackstopTestCase {
    func migrate(_ extra: [String] = []) throws -> RunResult {
        try backstop(["migrate", "--db", "app.db", "--yes"] + extra)
    }

    func testTransactionWrappersForeignKeyPragmasAndPlaceholdersAreAcceptedWithNotes() throws {
        let db = try makeDatabase(rows: 10)
        try writeMigration("0001_wrapped.sql", "BEGIN TRANSACTION;\nCREATE TABLE a(x);\nCOMMIT;\n")
        try writeMigration("0002_rebuild.sql", "PRAGMA foreign_keys=OFF;\nCREATE TABLE items_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL, note TEXT);\nINSERT INTO items_new(id, name) SELECT id, name FROM items;\nDROP TABLE items;\nALTER TABLE items_new RENAME TO items;\nPRAGMA foreign_keys=ON;\n")
        try writeMigration("0003_placeholder.sql", "-- dropped before release; the number stays taken\n")
        let status = try backstop(["status", "--db", "app.db"])
        XCTAssertEqual(status.status, 0, status.stderr)
        XCTAssertTrue(status.stdout.hasSuffix("Problems: none\n"), status.stdout)
        let run = try migrate()
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("note: 0001_wrapped.sql: the BEGIN ... COMMIT around the file is left out: Backstop runs the whole run in one transaction"), run.stderr)
        XCTAssertTrue(run.stderr.contains("note: 0002_rebuild.sql: PRAGMA foreign_keys = OFF is left out"), run.stderr)
        XCTAssertTrue(run.stderr.contains("note: 0003_placeholder.sql holds no SQL: it runs as a no-op (a placeholder)"), run.stderr)
        XCTAssertEqual(try count(db), 10)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("SELECT max(version) FROM backstop_migrations"), 3)
    }

    func testEveryProblemOfAFileIsReportedAtOnce() throws {
        try makeDatabase(rows: 1)
        try writeMigration("0001_bad.sql", "CREATE TABLE a(x);\nVACUUM;\nATTACH 'x.db' AS x;\n-- backstop:sideways\nPRAGMA journal_mode = WAL;\n")
        let check = try backstop(["check", "--db", "app.db"])
        XCTAssertEqual(check.status, 7)
        let dir = path("migrations")
        XCTAssertEqual(check.stdout, """
            1 migration file in \(dir) (1 cannot be used), database \(path("app.db")) at version none
            Problems:
              - \(dir)/0001_bad.sql:4: unknown section marker '-- backstop:sideways'; expected up, require, verify, down or foreign-keys on (fix the file)
              - \(dir)/0001_bad.sql:2: VACUUM cannot run inside a transaction; run it separately after migrating (fix the file)
              - \(dir)/0001_bad.sql:3: ATTACH cannot run inside a transaction (fix the file)
              - \(dir)/0001_bad.sql:5: changing journal_mode cannot happen inside a transaction; do it outside migrations (fix the file)

            """)
    }

    func testARefusedFileBlocksOnlyTheRunsThatReachIt() throws {
        let db = try makeDatabase(rows: 1)
        try writeMigration("0001_a.sql", "CREATE TABLE a(x);\n")
        try writeMigration("0002_b.sql", "CREATE TABLE b(x);\n")
        try writeMigration("0003_broken.sql", "CREATE TABLE c(x);\nVACUUM;\n")
        let all = try migrate()
        XCTAssertEqual(all.status, 7, all.stderr)
        XCTAssertTrue(all.stderr.contains("0003_broken.sql:2: VACUUM cannot run inside a transaction"), all.stderr)
        let upToTwo = try migrate(["--to", "2", "-q"])
        XCTAssertEqual(upToTwo.status, 0, upToTwo.stderr)
        XCTAssertTrue(try Database(path: db, mode: .readOnly).tableExists("b"))
        let status = try backstop(["status", "--db", "app.db"])
        XCTAssertTrue(status.stdout.contains("Pending:         0"), status.stdout)
        XCTAssertTrue(status.stdout.contains("0003_broken.sql:2: VACUUM"), status.stdout)
    }

    func testAMigrationCanAskForForeignKeyActionsDuringItsOwnStatements() throws {
        let db = try makeDatabase(rows: 1)
        try execute(db, """
            CREATE TABLE rules(id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE actions(id INTEGER PRIMARY KEY, rule_id INTEGER NOT NULL REFERENCES rules(id) ON DELETE CASCADE,
                                 backup_rule INTEGER REFERENCES rules(id) ON DELETE SET NULL);
            INSERT INTO rules VALUES (1, 'keep'), (2, 'obsolete'), (3, 'also obsolete');
            INSERT INTO actions VALUES (1, 1, 2), (2, 2, NULL), (3, 3, 1), (4, 2, NULL);
            """)
        // Without asking: enforcement is off for the run, the cascade does not happen, and the run fails
        // on the rows it left pointing at nothing.
        try writeMigration("0001_drop_obsolete.sql", "DELETE FROM rules WHERE name LIKE '%obsolete';\n")
        let refused = try migrate()
        XCTAssertEqual(refused.status, 8, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("PRAGMA foreign_key_check"), refused.stderr)
        XCTAssertEqual(try count(db, "actions"), 4)
        // Asking, as an app that runs with foreign keys on would: CASCADE deletes, SET NULL clears.
        try writeMigration("0001_drop_obsolete.sql", "PRAGMA foreign_keys = ON;\nDELETE FROM rules WHERE name LIKE '%obsolete';\n")
        let run = try migrate()
        XCTAssertEqual(run.status, 0, run.stderr)
        let after = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try after.rows("SELECT id, rule_id, backup_rule FROM actions ORDER BY id"), [[.integer(1), .integer(1), .null]])
        XCTAssertEqual(try after.int("SELECT count(*) FROM sqlite_temp_schema"), 0, "the temporary triggers are gone")
    }

    func testRowsThatPointedAtNothingBeforeTheRunAreReportedNotBlamed() throws {
        let db = try makeDatabase(rows: 1)
        try execute(db, """
            CREATE TABLE parents(id INTEGER PRIMARY KEY);
            CREATE TABLE children(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parents(id));
            INSERT INTO children VALUES (1, 99);
            """)
        try writeMigration("0001_unrelated.sql", "CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT);\n")
        let run = try migrate()
        XCTAssertEqual(run.status, 0, run.stderr)
        XCTAssertTrue(run.stderr.contains("warning: 1 row already points at nothing before this run (see 'backstop check --postconditions'); it is not the run's doing and does not stop it"), run.stderr)
        // A new orphan is still the run's doing.
        try writeMigration("0002_orphan.sql", "INSERT INTO children VALUES (2, 42);\n")
        let second = try migrate()
        XCTAssertEqual(second.status, 8, second.stderr)
        XCTAssertTrue(second.stderr.contains("1 other row pointed at nothing before the run and is not counted"), second.stderr)
        XCTAssertTrue(second.stderr.contains("table='children', rowid=2, parent='parents', fkid=0"), second.stderr)
    }

    func testConnectionSettingsOfOneMigrationDoNotLeakIntoTheNext() throws {
        // 0001 turns case-sensitive LIKE on; 0002 counts names LIKE 'ITEM%'. Batched or not, the same count.
        var counts: [Int64] = []
        for batched in [true, false] {
            let name = batched ? "batched.db" : "separate.db"
            let db = try makeDatabase(name, rows: 10)
            try writeMigration("0001_like.sql", "PRAGMA case_sensitive_like = ON;\nCREATE TABLE counts(n INTEGER);\n", folder: "m-\(name)")
            try writeMigration("0002_count.sql", "INSERT INTO counts SELECT count(*) FROM items WHERE name LIKE 'ITEM%';\n", folder: "m-\(name)")
            let args = ["migrate", "--db", name, "--dir", path("m-\(name)"), "--yes", "-q"]
            if batched {
                XCTAssertEqual(try backstop(args).status, 0)
            } else {
                XCTAssertEqual(try backstop(args + ["--to", "1"]).status, 0)
                XCTAssertEqual(try backstop(args).status, 0)
            }
            counts.append(try Database(path: db, mode: .readOnly).int("SELECT n FROM counts"))
        }
        XCTAssertEqual(counts, [10, 10])
    }

    func testExtensionsCanBeLoadedForFunctionsTheAppRegisters() throws {
        // A tiny extension that registers app_slug(text), as an app would in its own code.
        let source = path("slug.c")
        try """
            #include <sqlite3ext.h>
            #include <ctype.h>
            SQLITE_EXTENSION_INIT1
            static void slug(sqlite3_context *c, int n, sqlite3_value **v) {
                const unsigned char *t = sqlite3_value_text(v[0]);
                char out[256]; int i = 0;
                for (; t && t[i] && i < 255; i++) out[i] = isalnum(t[i]) ? tolower(t[i]) : '-';
                out[i] = 0;
                sqlite3_result_text(c, out, -1, SQLITE_TRANSIENT);
            }
            int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *api) {
                SQLITE_EXTENSION_INIT2(api);
                return sqlite3_create_function(db, "app_slug", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, 0, slug, 0, 0);
            }
            """.write(toFile: source, atomically: true, encoding: .utf8)
        let compiled = try run("/usr/bin/cc", ["-shared", "-fPIC", "-o", path("slug.so"), source])
        XCTAssertEqual(compiled.status, 0, compiled.stderr)
        let db = try makeDatabase(rows: 3)
        try writeMigration("0001_slugs.sql", "ALTER TABLE items ADD COLUMN slug TEXT;\nUPDATE items SET slug = app_slug(name);\n")
        let without = try migrate()
        XCTAssertEqual(without.status, 8, without.stderr)
        XCTAssertTrue(without.stderr.contains("no such function: app_slug"), without.stderr)
        let with = try migrate(["--load-extension", path("slug.so"), "-q"])
        XCTAssertEqual(with.status, 0, with.stderr)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("SELECT count(*) FROM items WHERE slug = lower(replace(name, ' ', '-'))"), 3)
    }

    func testAFreshDatabaseIsCreatedOnlyWhenAskedAndAnEmptyFileIsAnEmptyDatabase() throws {
        try writeMigration("0001_init.sql", "CREATE TABLE t(x);\n")
        let missing = try migrate()
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertFalse(FileSystem.exists(path("app.db")), "nothing is created without --create")
        let created = try migrate(["--create"])
        XCTAssertEqual(created.status, 0, created.stderr)
        XCTAssertTrue(created.stderr.contains("Created the empty database \(path("app.db"))."), created.stderr)
        XCTAssertTrue(try Database(path: path("app.db"), mode: .readOnly).tableExists("t"))
        // A 0-byte file (a valid empty SQLite database) is migrated like an empty one, with a snapshot first.
        XCTAssertTrue(FileManager.default.createFile(atPath: path("zero.db"), contents: Data()))
        let zero = try backstop(["migrate", "--db", "zero.db", "--yes", "-q"])
        XCTAssertEqual(zero.status, 0, zero.stderr)
        XCTAssertTrue(try Database(path: path("zero.db"), mode: .readOnly).tableExists("t"))
        XCTAssertEqual(try listed(["--db", "zero.db"]).map { $0["kind"] as? String }, ["pre-migration"])
    }

    func testBugsFoundOnTheWay() throws {
        let db = try makeDatabase(rows: 1)
        // A `-- backstop:down` line inside a multi-line string is data, not a section marker.
        try writeMigration("0001_notes.sql", "CREATE TABLE notes(body TEXT);\nINSERT INTO notes VALUES ('first line\n-- backstop:down\nlast line');\n")
        XCTAssertEqual(try migrate(["-q"]).status, 0)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).scalar("SELECT body FROM notes")?.string, "first line\n-- backstop:down\nlast line")
        // After an out-of-order run, the version reported is the real highest one.
        try writeMigration("0005_five.sql", "CREATE TABLE five(x);\n")
        XCTAssertEqual(try migrate(["-q"]).status, 0)
        try writeMigration("0003_three.sql", "CREATE TABLE three(x);\n")
        let outOfOrder = try migrate(["--allow-out-of-order"])
        XCTAssertEqual(outOfOrder.status, 0, outOfOrder.stderr)
        XCTAssertTrue(outOfOrder.stdout.hasSuffix("The database is now at version 5 (\(outOfOrder.stdout.components(separatedBy: "version 5 (").last!)"), outOfOrder.stdout)
        XCTAssertFalse(outOfOrder.stdout.contains("now at version 3"), outOfOrder.stdout)
        // baseline refuses files at or below the version that cannot be used, naming them.
        let fresh = try makeDatabase("fresh.db", rows: 1)
        try writeMigration("0001_ok.sql", "CREATE TABLE ok(x);\n", folder: "adopt")
        try writeMigration("0002_broken.sql", "VACUUM;\n", folder: "adopt")
        let baseline = try backstop(["baseline", "2", "--db", "fresh.db", "--dir", path("adopt")])
        XCTAssertEqual(baseline.status, 6, baseline.stderr)
        XCTAssertTrue(baseline.stderr.contains("0002_broken.sql:1: VACUUM cannot run inside a transaction"), baseline.stderr)
        XCTAssertFalse(try Database(path: fresh, mode: .readOnly).tableExists("backstop_migrations"))
    }
}
