import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class MigrateCommandTests: BackstopTestCase {
    override func setUpWithError() throws {
        try super.setUpWithError()
        try makeDatabase(rows: 2000)
        try FileManager.default.createDirectory(atPath: path("migrations"), withIntermediateDirectories: true)
    }

    func migration(_ name: String, _ text: String) throws { try writeMigration(name, text) }

    /// A migration that takes a while: it writes a few hundred thousand rows.
    func heavyMigration() throws {
        try migration("0001_heavy.sql", """
            CREATE TABLE big(id INTEGER PRIMARY KEY, payload TEXT NOT NULL);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
            INSERT INTO big(id, payload) SELECT i, printf('%.100c', 'x') || i FROM n;
            UPDATE items SET score = score + 1;
            -- backstop:verify
            SELECT count(*) FROM big HAVING count(*) != 300000;
            """)
    }

    func testConcurrentRunsNeverApplyAMigrationTwice() throws {
        try heavyMigration()
        let scoreBefore = try Database(path: path("app.db"), mode: .readOnly).scalar("SELECT sum(score) FROM items")
        let runs = try (0..<3).map { _ in
            try start(BackstopTestCase.backstopPath, ["migrate", "--db", "app.db", "--yes", "--lock-wait", "60", "--json"])
        }
        for run in runs { run.waitUntilExit() }
        XCTAssertEqual(runs.map(\.terminationStatus), [0, 0, 0])
        let outputs = runs.map { String(decoding: ($0.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        let applied = outputs.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
            .map { ($0?["steps"] as? [Any])?.count ?? -1 }
        XCTAssertEqual(applied.sorted(), [0, 0, 1], "exactly one run applies the migration")
        let db = try Database(path: path("app.db"), mode: .readOnly)
        XCTAssertEqual(try db.int("SELECT count(*) FROM backstop_migrations WHERE version = 1"), 1)
        XCTAssertEqual(try db.int("SELECT count(*) FROM big"), 300000)
        let scoreAfter = try db.scalar("SELECT sum(score) FROM items")
        guard case .real(let before)? = scoreBefore, case .real(let after)? = scoreAfter else { return XCTFail() }
        XCTAssertEqual(after - before, 2000, accuracy: 0.001, "the UPDATE ran once")
    }

    func testASecondRunThatCannotGetTheLockExitsLocked() throws {
        let lock = try DatabaseLock.acquire(path("app.db"), wait: 0)
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        let result = try backstop(["migrate", "--db", "app.db", "--yes", "--lock-wait", "0.5"])
        XCTAssertEqual(result.status, 5, result.stderr)
        XCTAssertTrue(result.stderr.contains("error: the database \(path("app.db")) is locked by another Backstop run (pid \(getpid()), "), result.stderr)
        XCTAssertTrue(result.stderr.contains("; waited 1s, nothing was changed\n"), result.stderr)
        lock.release()
        XCTAssertFalse(try Database(path: path("app.db"), mode: .readOnly).tableExists("a"))
    }

    func testMigrateNeedsYesWithoutATerminalAndNoSnapshotSaysWhatItGivesUp() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        let refused = try backstop(["migrate", "--db", "app.db"])
        XCTAssertEqual(refused.status, 6)
        XCTAssertTrue(refused.stdout.contains("Plan for \(path("app.db")): version none -> 1, apply 1 migration:"), refused.stdout)
        XCTAssertTrue(refused.stderr.contains("add --yes"), refused.stderr)
        XCTAssertFalse(try Database(path: path("app.db"), mode: .readOnly).tableExists("a"))

        let unsafe = try backstop(["migrate", "--db", "app.db", "--yes", "--no-snapshot"])
        XCTAssertEqual(unsafe.status, 0, unsafe.stderr)
        XCTAssertTrue(unsafe.stderr.contains("warning: --no-snapshot: no pre-migration snapshot will be taken"), unsafe.stderr)
        let snapshots = FileSystem.exists(path("app.db.backstop")) ? try SnapshotStore(path: path("app.db.backstop"), create: false).scan().snapshots : []
        XCTAssertEqual(snapshots.count, 0)
        let rollback = try backstop(["rollback", "--db", "app.db", "--yes"])
        XCTAssertEqual(rollback.status, 3)
        XCTAssertTrue(rollback.stderr.contains("was applied without a snapshot: there is no snapshot to roll back to"), rollback.stderr)
    }

    func testCheckNeedsNoDatabaseAndFailsOnAnyProblem() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);")
        try migration("0002_b.sql", "CREATE TABLE b(x);")
        let ok = try backstop(["check", "--dir", "migrations"])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        try migration("0002_other.sql", "CREATE TABLE c(x);")
        let duplicate = try backstop(["check", "--dir", "migrations", "--json"])
        XCTAssertEqual(duplicate.status, 7)
        let object = try json(duplicate) as! [String: Any]
        XCTAssertEqual(object["ok"] as? Bool, false)
        XCTAssertEqual((object["problems"] as? [[String: Any]])?.first?["kind"] as? String, "duplicate_version")
    }

    func testStatusHistoryAndRollbackThroughTheCommandLine() throws {
        try migration("0001_a.sql", "CREATE TABLE a(x);\nINSERT INTO a VALUES (1), (2);")
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)
        let status = try json(backstop(["status", "--db", "app.db", "--json"])) as! [String: Any]
        XCTAssertEqual(status["current_version"] as? Int, 1)
        XCTAssertEqual((status["pending"] as? [Any])?.count, 0)
        let history = try document(backstop(["history", "--db", "app.db", "--json"]), schema: "history")["migrations"] as! [[String: Any]]
        XCTAssertEqual(history.count, 1)
        XCTAssertEqual(history[0]["rows_changed"] as? Int, 2)
        let snapshotID = try XCTUnwrap(history[0]["snapshot_id"] as? String)
        let table = try backstop(["history", "--db", "app.db"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.contains(snapshotID), table.stdout)
        XCTAssertTrue(table.stdout.contains("Undo the last run with: backstop rollback --db \(path("app.db")) --store \(path("app.db.backstop"))"), table.stdout)

        let rollback = try backstop(["rollback", "--db", "app.db", "--yes"])
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertTrue(rollback.stderr.contains("picked the pre-migration snapshot \(snapshotID)"), rollback.stderr)
        XCTAssertFalse(try Database(path: path("app.db"), mode: .readOnly).tableExists("a"))
        XCTAssertEqual((try document(backstop(["history", "--db", "app.db", "--json"]), schema: "history")["migrations"] as! [Any]).count, 0)
        // restore --before-migration finds the same snapshot.
        let again = try backstop(["restore", "--db", "app.db", "--before-migration", "1", "--to", "before1.db"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertTrue(again.stderr.contains(snapshotID), again.stderr)
    }

    func testMigrationFailureExitStatusAndJSONNameTheFailure() throws {
        try migration("0001_bad.sql", "CREATE TABLE a(x);\n-- backstop:verify\nSELECT 'still here' AS problem;")
        let result = try backstop(["migrate", "--db", "app.db", "--yes"])
        XCTAssertEqual(result.status, 8)
        XCTAssertTrue(result.stderr.contains("migration 0001_bad: postcondition failed"), result.stderr)
        XCTAssertTrue(result.stderr.contains("0001_bad.sql:3: SELECT 'still here' AS problem;"), result.stderr)
        XCTAssertTrue(result.stderr.contains("problem='still here'"), result.stderr)
        XCTAssertTrue(result.stderr.contains("nothing of it was applied"), result.stderr)
        XCTAssertFalse(try Database(path: path("app.db"), mode: .readOnly).tableExists("a"))
    }
}
