import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class MigratorTests: BackstopTestCase {
    var db: String!

    override func setUpWithError() throws {
        try super.setUpWithError()
        db = path("app.db")
        let database = try Database(path: db, mode: .create)
        try database.execute("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
            CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE, total REAL);
            CREATE TABLE order_lines(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE, item TEXT);
            """)
        try database.inTransaction {
            for c in 1...50 { try database.execute("INSERT INTO customers VALUES (\(c), 'customer \(c)')") }
            for o in 1...200 { try database.execute("INSERT INTO orders VALUES (\(o), \(o % 50 + 1), \(Double(o) * 1.5))") }
            for l in 1...600 { try database.execute("INSERT INTO order_lines VALUES (\(l), \(l % 200 + 1), 'item \(l)')") }
        }
        try FileManager.default.createDirectory(atPath: path("migrations"), withIntermediateDirectories: true)
    }

    func migration(_ name: String, _ text: String) throws { try writeMigration(name, text) }

    func migrator() throws -> Migrator { try Migrator(database: db, migrations: path("migrations"), store: path("store")) }

    func testFailingPostconditionInTheSecondOfThreeLeavesTheDatabaseExactlyAsBefore() throws {
        try migration("0001_add_email.sql", "ALTER TABLE customers ADD COLUMN email TEXT;\nUPDATE customers SET email = 'c' || id || '@example.com';")
        try migration("0002_drop_cheap_orders.sql", """
            DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE total < 30);
            DELETE FROM orders WHERE total < 30;
            -- backstop:verify
            SELECT id, total FROM orders WHERE total < 100 ORDER BY id;
            """)
        try migration("0003_more.sql", "CREATE TABLE audit(x);")
        let before = try contentDigest(db)
        XCTAssertThrowsError(try migrator().migrate()) { error in
            guard let failure = error as? MigrationFailure else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.migration, "0002_drop_cheap_orders")
            XCTAssertEqual(failure.phase, .postcondition)
            XCTAssertEqual(failure.statement?.line, 4)
            XCTAssertEqual(failure.rows?.columns, ["id", "total"])
            XCTAssertEqual(failure.rows?.rows.first, [.integer(20), .real(30)])
            XCTAssertTrue(failure.description.contains("0002_drop_cheap_orders.sql:4"), failure.description)
            XCTAssertTrue(failure.description.contains("nothing of it was applied"), failure.description)
        }
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertFalse(try Database(path: db, mode: .readOnly).tableExists(MigrationHistory.table))
        let snapshots = try SnapshotStore(path: path("store"), create: false).scan().snapshots
        XCTAssertEqual(snapshots.map(\.kind), [.preMigration])
        XCTAssertEqual(snapshots[0].migrations, [1, 2, 3])
    }

    func testSQLErrorNamesTheMigrationTheStatementAndTheLine() throws {
        try migration("0001_typo.sql", "CREATE TABLE a(x);\n\nINSERT INTO missing_table VALUES (1);\n")
        XCTAssertThrowsError(try migrator().migrate()) { error in
            guard let failure = error as? MigrationFailure else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.phase, .up)
            XCTAssertEqual(failure.statement?.line, 3)
            XCTAssertTrue(failure.message.contains("no such table: missing_table"), failure.message)
        }
        XCTAssertFalse(try Database(path: db, mode: .readOnly).tableExists("a"))
    }

    func testGuardThatReturnsRowsRefusesBeforeAnySnapshotOrChange() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        try migration("guard.sql", "SELECT id, name FROM customers WHERE id = 7;")
        let before = try contentDigest(db)
        XCTAssertThrowsError(try migrator().migrate()) { error in
            guard case BackstopError.checkFailed(let message, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("id=7, name='customer 7'"), message)
        }
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertFalse(FileSystem.exists(path("store")), "no snapshot was taken, not even a store created")
        var options = Migrator.Options()
        options.ignoreGuard = true
        XCTAssertEqual(try migrator().migrate(options).steps.count, 1)
    }

    func testTableRebuildWithCascadingChildrenLosesNoChildRows() throws {
        let linesBefore = try count(db, "order_lines")
        try execute(db, "PRAGMA foreign_keys = ON")
        // The classic rebuild: create new, copy, drop old, rename. With enforcement on, DROP TABLE orders
        // would cascade and delete every order line.
        try migration("0001_rebuild_orders.sql", """
            CREATE TABLE orders_new(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id) ON DELETE CASCADE,
                                    total REAL NOT NULL DEFAULT 0, currency TEXT NOT NULL DEFAULT 'EUR');
            INSERT INTO orders_new(id, customer_id, total) SELECT id, customer_id, coalesce(total, 0) FROM orders;
            DROP TABLE orders;
            ALTER TABLE orders_new RENAME TO orders;
            -- backstop:verify
            SELECT id FROM order_lines WHERE order_id NOT IN (SELECT id FROM orders);
            """)
        let report = try migrator().migrate()
        XCTAssertEqual(report.steps.count, 1)
        XCTAssertEqual(try count(db, "order_lines"), linesBefore)
        XCTAssertEqual(try count(db, "orders"), 200)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).rows("PRAGMA foreign_key_check"), [])
    }

    func testForeignKeyViolationsFailTheRun() throws {
        try migration("0001_orphan.sql", "DELETE FROM customers WHERE id = 3;")
        XCTAssertThrowsError(try migrator().migrate()) { error in
            guard let failure = error as? MigrationFailure else { return XCTFail("\(error)") }
            XCTAssertEqual(failure.phase, .foreignKeyCheck)
            XCTAssertEqual(failure.rows?.rows.first?.first, .text("orders"))
        }
        XCTAssertEqual(try count(db, "customers"), 50)
    }

    func testEditedAppliedMigrationBlocksMigrateButLineEndingChangesDoNot() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);\nINSERT INTO a VALUES (1);\n")
        try migrator().migrate()
        try migration("0002_b.sql", "CREATE TABLE b(x);\n")
        // CRLF only: not a change.
        try migration("0001_a.sql", "CREATE TABLE a(x);\r\nINSERT INTO a VALUES (1);\r\n")
        XCTAssertEqual(try migrator().status().problems, [])
        // A real edit: reported, and migrate refuses.
        try migration("0001_a.sql", "CREATE TABLE a(x);\nINSERT INTO a VALUES (2);\n")
        let status = try migrator().status()
        XCTAssertEqual(status.problems.map(\.kind), [.changed])
        XCTAssertThrowsError(try migrator().migrate()) { error in
            guard let error = error as? MigrationProblemsError else { return XCTFail("\(error)") }
            XCTAssertEqual(error.problems.map(\.kind), [.changed])
            XCTAssertTrue(error.description.contains("0001_a.sql changed after it was applied"), error.description)
        }
        XCTAssertFalse(try Database(path: db, mode: .readOnly).tableExists("b"))
        var options = Migrator.Options()
        options.allowed = [.changed]
        XCTAssertEqual(try migrator().migrate(options).steps.map(\.version), [2])
    }

    func testMissingFilesDuplicatesAndOutOfOrderPendingAreProblems() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        try migration("0003_c.sql", "CREATE TABLE c(x);")
        try migrator().migrate()
        unlink(path("migrations/0001_a.sql"))
        try migration("0002_b.sql", "CREATE TABLE b(x);")
        try migration("0004_d.sql", "CREATE TABLE d(x);")
        try migration("0004_e.sql", "CREATE TABLE e(x);")
        let status = try migrator().status()
        XCTAssertEqual(Set(status.problems.map(\.kind)), [.missing, .outOfOrder, .duplicateVersion])
        XCTAssertEqual(status.currentVersion, 3)
        XCTAssertEqual(status.pending.map(\.fileName), ["0002_b.sql", "0004_d.sql", "0004_e.sql"])
    }

    func testRunsUpToATargetVersionAndReportsRowsChanged() throws {
        try migration("0001_a.sql", "UPDATE customers SET name = upper(name) WHERE id <= 10;")
        try migration("0002_b.sql", "DELETE FROM order_lines WHERE id <= 5;")
        try migration("0003_c.sql", "CREATE TABLE c(x);")
        var options = Migrator.Options()
        options.target = 2
        let report = try migrator().migrate(options)
        XCTAssertEqual(report.steps.map(\.version), [1, 2])
        XCTAssertEqual(report.steps.map(\.rowsChanged), [10, 5])
        XCTAssertEqual(try migrator().status().currentVersion, 2)
        let history = try MigrationHistory.read(try Database(path: db, mode: .readOnly))
        XCTAssertEqual(history.map(\.snapshotID), [report.snapshot?.id, report.snapshot?.id])
        XCTAssertEqual(history.map(\.rowsChanged), [10, 5])
        XCTAssertEqual(try migrator().migrate().steps.map(\.version), [3])
        XCTAssertEqual(try migrator().migrate().steps.count, 0, "nothing left to apply")
    }

    func testRehearsalLeavesTheLiveDatabaseUntouchedAndCountsRows() throws {
        try migration("0001_a.sql", "DELETE FROM order_lines WHERE id <= 100;\nCREATE TABLE notes(x);")
        let before = try contentDigest(db)
        var options = Migrator.Options()
        options.dryRun = true
        let report = try migrator().migrate(options)
        XCTAssertTrue(report.dryRun)
        XCTAssertNil(report.snapshot)
        XCTAssertEqual(report.steps.map(\.rowsChanged), [100])
        let lines = try XCTUnwrap(report.tableCounts.first { $0.table == "order_lines" })
        XCTAssertEqual(lines.before, 600)
        XCTAssertEqual(lines.after, 500)
        let notes = try XCTUnwrap(report.tableCounts.first { $0.table == "notes" })
        XCTAssertNil(notes.before)
        XCTAssertEqual(notes.after, 0)
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertEqual(try SnapshotStore(path: path("store"), create: false).scan().snapshots.count, 0)
        XCTAssertEqual(try FileSystem.listDirectory(path("store")).filter { $0.hasPrefix(".tmp") }, [])
    }

    func testRollbackReturnsTheDataAndTheHistoryToThePreRunState() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        try migrator().migrate()
        let atOne = try contentDigest(db)
        try migration("0002_b.sql", "DELETE FROM orders WHERE id > 100;\nDELETE FROM order_lines WHERE order_id > 100;")
        try migration("0003_c.sql", "UPDATE customers SET name = 'x';")
        try migrator().migrate()
        XCTAssertEqual(try migrator().status().currentVersion, 3)
        let store = try SnapshotStore(path: path("store"), create: false)
        let manifest = try Rollback.select(database: db, store: store, toVersion: nil).manifest
        XCTAssertEqual(manifest.schemaVersion, 1)
        _ = try Restorer.restoreLive(manifest, store: store, database: db)
        XCTAssertEqual(try contentDigest(db), atOne)
        XCTAssertEqual(try migrator().status().currentVersion, 1)
        XCTAssertEqual(try migrator().status().pending.map(\.version), [2, 3])
        // --to selects the pre-migration snapshot taken at that version.
        XCTAssertEqual(try Rollback.select(database: db, store: store, toVersion: 1).manifest.id, manifest.id)
        XCTAssertThrowsError(try Rollback.select(database: db, store: store, toVersion: 2))
        // restore --before-migration 2 picks the same snapshot (from the manifests once history is gone).
        XCTAssertEqual(try SnapshotSelection.beforeMigration(2).resolve(in: store, database: db).manifest.id, manifest.id)
    }

    func testDownRunsDownSectionsInReverseAndRefusesWithoutThem() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);\n-- backstop:down\nDROP TABLE a;")
        try migration("0002_b.sql", "CREATE TABLE b(x);\n-- backstop:down\nDROP TABLE b;")
        try migration("0003_c.sql", "CREATE TABLE c(x);")
        try migrator().migrate()
        XCTAssertThrowsError(try migrator().down(to: 1)) { error in
            guard case BackstopError.refused(let message, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("0003_c.sql (no down section)"), message)
        }
        XCTAssertTrue(try Database(path: db, mode: .readOnly).tableExists("c"))
        try migration("0003_c.sql", "CREATE TABLE c(x);\n-- backstop:down\nDROP TABLE c;")
        var options = Migrator.Options()
        options.allowed = [.changed]
        let report = try migrator().down(to: 1, options: options)
        XCTAssertEqual(report.steps.map(\.version), [3, 2])
        XCTAssertEqual(report.snapshot?.kind, .preDown)
        let database = try Database(path: db, mode: .readOnly)
        XCTAssertFalse(try database.tableExists("b"))
        XCTAssertTrue(try database.tableExists("a"))
        XCTAssertEqual(try migrator().status().currentVersion, 1)
    }

    func testBaselineAdoptsADatabaseWithoutRunningAnything() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        try migration("0002_b.sql", "CREATE TABLE b(x);")
        try migration("0003_c.sql", "CREATE TABLE c(x);")
        let entries = try migrator().baseline(version: 2)
        XCTAssertEqual(entries.map(\.version), [1, 2])
        XCTAssertFalse(try Database(path: db, mode: .readOnly).tableExists("a"))
        XCTAssertEqual(try migrator().status().pending.map(\.version), [3])
        XCTAssertThrowsError(try migrator().baseline(version: 3))
    }

    func testTheLibraryRefusesAMissingDatabaseAndCreatesNothing() throws {
        XCTAssertThrowsError(try Migrator(database: path("nope.db"), migrations: path("migrations")))
        XCTAssertFalse(FileSystem.exists(path("nope.db")))
    }
}
