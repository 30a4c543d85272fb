import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class RecoveryTests: BackstopTestCase {
    var db: String!
    var store: SnapshotStore!
    var snapshot: Manifest!

    override func setUpWithError() throws {
        try super.setUpWithError()
        db = path("shop.db")
        let database = try Database(path: db, mode: .create)
        try database.execute("""
            PRAGMA journal_mode = WAL;
            CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
            CREATE TABLE orders(id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), note TEXT);
            CREATE TABLE order_lines(id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
                                     item TEXT, price REAL, payload BLOB);
            CREATE TABLE line_notes(id INTEGER PRIMARY KEY, line_id INTEGER NOT NULL REFERENCES order_lines(id), text TEXT);
            CREATE TABLE tags(kind TEXT NOT NULL, code INTEGER NOT NULL, label TEXT, PRIMARY KEY (kind, code)) WITHOUT ROWID;
            CREATE TABLE tag_uses(id INTEGER PRIMARY KEY, kind TEXT NOT NULL, code INTEGER NOT NULL, order_id INTEGER REFERENCES orders(id),
                                  FOREIGN KEY (kind, code) REFERENCES tags(kind, code));
            CREATE TABLE "order" ("select" INTEGER PRIMARY KEY, "my name" TEXT NOT NULL UNIQUE, "we""ird col" REAL, "group" BLOB);
            CREATE TABLE plain(a TEXT, b REAL);
            """)
        try database.inTransaction {
            for c in 1...5 { try database.execute("INSERT INTO customers VALUES (\(c), 'customer \(c)')") }
            for o in 1...20 { try database.execute("INSERT INTO orders VALUES (\(o), \((o - 1) % 5 + 1), 'order \(o)')") }
            let line = try database.prepare("INSERT INTO order_lines VALUES (?1, ?2, ?3, ?4, ?5)")
            for l in 1...60 {
                try line.bind([.integer(Int64(l)), .integer(Int64((l - 1) % 20 + 1)), l % 7 == 0 ? .null : .text("item \(l)"),
                               .real(0.1 + 0.2 + Double(l) / 3), .blob([0, 255, UInt8(l), 0, 10])])
                try line.step()
            }
            for n in 1...60 { try database.execute("INSERT INTO line_notes VALUES (\(n), \(n), 'note on line \(n)')") }
            try database.execute("INSERT INTO tags VALUES ('a', 1, 'alpha'), ('a', 2, 'alpha two'), ('b', 1, 'beta')")
            try database.execute("INSERT INTO tag_uses VALUES (1, 'a', 1, 1), (2, 'a', 2, 2), (3, 'b', 1, 3)")
            try database.execute("INSERT INTO \"order\" VALUES (1, 'first', 1.5, x'00ff'), (2, 'it''s \"two\"', NULL, NULL)")
            try database.execute("INSERT INTO plain(rowid, a, b) VALUES (10, 'x', 1.25), (11, 'y', NULL)")
        }
        store = try SnapshotStore(path: path("store"), create: true)
        snapshot = try Snapshotter.take(database: db, store: store, options: SnapshotOptions()).manifest
    }

    func recover(_ table: String, _ predicate: String, children: Bool = false, repoint: Bool = false,
                 sets: [String: SQLiteValue] = [:], dryRun: Bool = false) throws -> RecoveryReport {
        var request = RecoveryRequest(table: table, predicate: predicate)
        request.children = children
        request.repoint = repoint
        request.sets = sets
        return try Recoverer.recover(snapshot, store: store, database: db, request: request, dryRun: dryRun)
    }

    func rows(_ sql: String, in file: String? = nil) throws -> [[SQLiteValue]] {
        try Database(path: file ?? db, mode: .readOnly).rows(sql)
    }

    func snapshotImage() throws -> String {
        let copy = path("snapshot-image.db")
        if !FileSystem.exists(copy) { _ = try Restorer.restoreToFile(snapshot, store: store, path: copy, force: false) }
        return copy
    }

    func testRecoveryBringsBackMissingParentsTransitively() throws {
        // Customer 3 is gone live, with everything that hung from it.
        try execute(db, """
            DELETE FROM line_notes WHERE line_id IN (SELECT l.id FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.customer_id = 3);
            DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 3);
            DELETE FROM tag_uses WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 3);
            DELETE FROM orders WHERE customer_id = 3;
            DELETE FROM customers WHERE id = 3;
            """)
        // Line 3 belongs to order 3, of customer 3.
        let report = try recover("order_lines", "id = 3")
        XCTAssertEqual(report.plan.rowsPerTable.map { "\($0.table)=\($0.count)" }, ["customers=1", "order_lines=1", "orders=1"])
        XCTAssertEqual(report.plan.rows.first { $0.table == "customers" }?.reason, .parent(of: "orders(3)"))
        XCTAssertEqual(try rows("SELECT name FROM customers WHERE id = 3"), [[.text("customer 3")]])
        XCTAssertEqual(try rows("SELECT customer_id FROM orders WHERE id = 3"), [[.integer(3)]])
        XCTAssertEqual(try rows("PRAGMA foreign_key_check"), [])
        XCTAssertEqual(report.preRecover?.kind, .preRecover)
    }

    func testChildrenComeBackAcrossTwoLevels() throws {
        try execute(db, "DELETE FROM line_notes WHERE line_id IN (SELECT id FROM order_lines WHERE order_id = 5); DELETE FROM order_lines WHERE order_id = 5; DELETE FROM tag_uses WHERE order_id = 5; DELETE FROM orders WHERE id = 5")
        let report = try recover("orders", "id = 5", children: true)
        XCTAssertEqual(report.plan.rowsPerTable.map { "\($0.table)=\($0.count)" }, ["line_notes=3", "order_lines=3", "orders=1"])
        XCTAssertEqual(try rows("SELECT count(*) FROM order_lines WHERE order_id = 5"), [[.integer(3)]])
        XCTAssertEqual(try rows("SELECT count(*) FROM line_notes n JOIN order_lines l ON l.id = n.line_id WHERE l.order_id = 5"), [[.integer(3)]])
        // Without --children only the order itself would have come back.
        XCTAssertEqual(try contentDigest(db), try contentDigest(snapshotImage()))
    }

    func testRepointAfterAMergePointsRowsBackAtTheRecoveredRow() throws {
        // A merge: customer 2 folded into customer 1.
        try execute(db, "UPDATE orders SET customer_id = 1 WHERE customer_id = 2; DELETE FROM customers WHERE id = 2")
        let plain = try recover("customers", "id = 2", dryRun: true)
        XCTAssertEqual(plain.plan.repoints.count, 0, "without --repoint nothing is re-pointed")
        let report = try recover("customers", "id = 2", repoint: true)
        XCTAssertEqual(report.plan.rows.map(\.label), ["customers(2)"])
        XCTAssertEqual(report.plan.repoints.map(\.label), ["orders(2)", "orders(7)", "orders(12)", "orders(17)"])
        XCTAssertEqual(report.plan.repoints.first?.from, [.integer(1)])
        XCTAssertEqual(report.plan.repoints.first?.to, [.integer(2)])
        XCTAssertEqual(try contentDigest(db), try contentDigest(snapshotImage()))
    }

    func testUniqueClashChangesNothingAndNamesBothRows() throws {
        try execute(db, "UPDATE orders SET customer_id = 1 WHERE customer_id = 2; DELETE FROM customers WHERE id = 2; UPDATE customers SET name = 'customer 2' WHERE id = 1")
        let before = try contentDigest(db)
        XCTAssertThrowsError(try recover("customers", "id = 2", repoint: true)) { error in
            guard case BackstopError.refused(let message, let remedy) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("customers(2) from the snapshot clashes with live row customers(1) on UNIQUE(name): both have name='customer 2'"), message)
            XCTAssertEqual(remedy, .renameOrSet(table: "customers", column: "name"))
        }
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertEqual(try store.scan().snapshots.map(\.kind), [.manual], "no pre-recover snapshot: nothing was about to change")
        // Giving the recovered row another name resolves it.
        let report = try recover("customers", "id = 2", repoint: true, sets: ["customers.name": .text("customer 2 (restored)")])
        XCTAssertEqual(report.plan.rows.count, 1)
        XCTAssertEqual(try rows("SELECT name FROM customers WHERE id = 2"), [[.text("customer 2 (restored)")]])
    }

    func testAPredicateCanOnlyReadTheSnapshotCopy() throws {
        try execute(db, "DELETE FROM tag_uses WHERE id = 3")
        let liveBefore = try contentDigest(db)
        let snapshotBefore = try ImageFiles.sha256(path: store.dataPath(snapshot)).sha256
        for predicate in ["1); DROP TABLE orders; --", "1) UNION SELECT 1; DELETE FROM customers; --",
                          "id = (SELECT count(*) FROM pragma_table_info('orders')); DROP TABLE customers"] {
            XCTAssertThrowsError(try recover("tag_uses", predicate), predicate) { error in
                guard case BackstopError.invalidInput(let message, _) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(message.hasPrefix("the condition cannot be used"), message)
            }
        }
        XCTAssertEqual(try contentDigest(db), liveBefore)
        XCTAssertEqual(try ImageFiles.sha256(path: store.dataPath(snapshot)).sha256, snapshotBefore)
        XCTAssertEqual(try store.scan().snapshots.count, 1)
        // A predicate that reads other snapshot tables is fine: it reads the copy, not the live database.
        try execute(db, "DELETE FROM customers WHERE id = 5 AND 0")
        let report = try recover("tag_uses", "order_id IN (SELECT id FROM orders WHERE note = 'order 3')")
        XCTAssertEqual(report.plan.rows.map(\.label), ["tag_uses(3)"])
    }

    func testCompositeKeysAndWithoutRowIDTables() throws {
        try execute(db, "DELETE FROM tag_uses WHERE kind = 'a' AND code = 2; DELETE FROM tags WHERE kind = 'a' AND code = 2")
        let report = try recover("tag_uses", "id = 2")
        XCTAssertEqual(report.plan.rows.map(\.label), ["tag_uses(2)", "tags('a', 2)"])
        XCTAssertEqual(try rows("SELECT label FROM tags WHERE kind = 'a' AND code = 2"), [[.text("alpha two")]])
        // diff matches WITHOUT ROWID rows by their key.
        try execute(db, "UPDATE tags SET label = 'changed' WHERE kind = 'b'")
        let diff = try Differ.diff(snapshot, against: .live(db), store: store, table: "tags")
        XCTAssertEqual(diff.tables.map { "\($0.table) \($0.key) \($0.deleted)/\($0.inserted)/\($0.changed)" }, ["tags [\"kind\", \"code\"] 0/0/1"])
    }

    func testBlobNullAndRealValuesRoundTripExactly() throws {
        let original = try rows("SELECT id, order_id, item, price, payload, typeof(price), typeof(payload) FROM order_lines WHERE order_id = 7 ORDER BY id")
        XCTAssertTrue(original.contains { $0[2] == .null })
        try execute(db, "DELETE FROM line_notes WHERE line_id IN (SELECT id FROM order_lines WHERE order_id = 7); DELETE FROM order_lines WHERE order_id = 7")
        _ = try recover("order_lines", "order_id = 7")
        XCTAssertEqual(try rows("SELECT id, order_id, item, price, payload, typeof(price), typeof(payload) FROM order_lines WHERE order_id = 7 ORDER BY id"), original)
    }

    func testQuotedAndKeywordIdentifiersAndRowIDTables() throws {
        try execute(db, "DELETE FROM \"order\"; DELETE FROM plain WHERE a = 'y'")
        let report = try recover("order", "\"my name\" LIKE 'it%'")
        XCTAssertEqual(report.plan.rows.count, 1)
        XCTAssertEqual(try rows("SELECT \"select\", \"my name\", \"we\"\"ird col\", \"group\" FROM \"order\""),
                       [[.integer(2), .text("it's \"two\""), .null, .null]])
        _ = try recover("plain", "a = 'y'")
        XCTAssertEqual(try rows("SELECT rowid, a, b FROM plain ORDER BY rowid"), [[.integer(10), .text("x"), .real(1.25)], [.integer(11), .text("y"), .null]])
    }

    func testASchemaThatGainedANotNullColumnNeedsAValue() throws {
        try execute(db, """
            PRAGMA foreign_keys = OFF;
            BEGIN;
            CREATE TABLE customers_new(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, region TEXT NOT NULL, tier TEXT NOT NULL DEFAULT 'basic');
            INSERT INTO customers_new(id, name, region) SELECT id, name, 'eu' FROM customers WHERE id != 4;
            DROP TABLE customers;
            ALTER TABLE customers_new RENAME TO customers;
            DELETE FROM line_notes WHERE line_id IN (SELECT l.id FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.customer_id = 4);
            DELETE FROM order_lines WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 4);
            DELETE FROM tag_uses WHERE order_id IN (SELECT id FROM orders WHERE customer_id = 4);
            DELETE FROM orders WHERE customer_id = 4;
            COMMIT;
            """)
        let before = try contentDigest(db)
        XCTAssertThrowsError(try recover("customers", "id = 4")) { error in
            XCTAssertTrue("\(error)".contains("customers.region is NOT NULL without a default in the live database"), "\(error)")
            XCTAssertEqual((error as? BackstopError)?.remedy, .setColumn(table: "customers", column: "region"))
        }
        XCTAssertEqual(try contentDigest(db), before)
        let report = try recover("customers", "id = 4", children: true, sets: ["customers.region": .text("us")])
        XCTAssertEqual(report.plan.defaulted["customers"], ["tier"])
        XCTAssertEqual(try rows("SELECT name, region, tier FROM customers WHERE id = 4"), [[.text("customer 4"), .text("us"), .text("basic")]])
        XCTAssertEqual(try rows("SELECT count(*) FROM orders WHERE customer_id = 4"), [[.integer(4)]])
        XCTAssertEqual(try rows("PRAGMA foreign_key_check"), [])
    }

    func testDryRunChangesNothingAndRowsPresentLiveAreLeftAlone() throws {
        try execute(db, "DELETE FROM line_notes WHERE id = 9")
        let before = try contentDigest(db)
        let plan = try recover("line_notes", "id BETWEEN 8 AND 10", dryRun: true)
        XCTAssertTrue(plan.dryRun)
        XCTAssertEqual(plan.plan.rows.map(\.label), ["line_notes(9)"])
        XCTAssertEqual(plan.plan.alreadyPresent, 2)
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertEqual(try store.scan().snapshots.count, 1)
        XCTAssertEqual(try FileSystem.listDirectory(store.path).filter { $0.hasPrefix(".tmp") }, [], "the private copy is removed")
    }

    func testASnapshotOfAnotherDatabaseIsRefusedUnlessAsked() throws {
        let other = try makeDatabase("other.db", rows: 3)
        let before = try contentDigest(other)
        var request = RecoveryRequest(table: "customers", predicate: "1")
        request.children = true
        XCTAssertThrowsError(try Recoverer.recover(snapshot, store: store, database: other, request: request, dryRun: true)) { error in
            guard case BackstopError.refused(let message, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("is of \(db!), not of \(other)"), message)
        }
        XCTAssertEqual(try contentDigest(other), before)
    }

    func testDiffCountsDeletedInsertedChangedAndSchemaChanges() throws {
        try execute(db, """
            DELETE FROM line_notes WHERE id <= 3;
            INSERT INTO line_notes VALUES (100, 1, 'new');
            UPDATE orders SET note = 'edited' WHERE id IN (1, 2);
            ALTER TABLE orders ADD COLUMN shipped INTEGER;
            CREATE TABLE audit(x);
            DROP TABLE plain;
            """)
        let report = try Differ.diff(snapshot, against: .live(db), store: store)
        let byTable = Dictionary(uniqueKeysWithValues: report.tables.map { ($0.table, $0) })
        XCTAssertEqual(byTable["line_notes"].map { [$0.deleted, $0.inserted, $0.changed] }, [3, 1, 0])
        XCTAssertEqual(byTable["orders"].map { [$0.deleted, $0.inserted, $0.changed] }, [0, 0, 2])
        XCTAssertEqual(byTable["plain"]?.deleted, 2)
        XCTAssertEqual(report.schema.tablesAdded, ["audit"])
        XCTAssertEqual(report.schema.tablesRemoved, ["plain"])
        XCTAssertEqual(report.schema.columnsAdded["orders"], ["shipped"])
        // Against another snapshot instead of the live database.
        let later = try Snapshotter.take(database: db, store: store, options: SnapshotOptions()).manifest
        let between = try Differ.diff(snapshot, against: .snapshot(later), store: store, table: "line_notes")
        XCTAssertEqual(between.against, later.id)
        XCTAssertEqual(between.tables.first?.rows?.deleted.count, 3)
        XCTAssertEqual(between.tables.first?.rows?.inserted.map { $0[0] }, [.integer(100)])
    }
}
