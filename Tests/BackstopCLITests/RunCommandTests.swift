import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// `backstop run -- COMMAND`: real migrators (Alembic, Django) and shell commands, protected.
final class RunCommandTests: BackstopTestCase {
    static var venv: String { BackstopTestCase.packageRoot + "/.build/test-venv/bin" }
    static var fixtures: String { BackstopTestCase.packageRoot + "/Tests/fixtures" }

    func requireVenv() throws {
        guard FileManager.default.isExecutableFile(atPath: RunCommandTests.venv + "/alembic") else {
            XCTFail("the test tools are missing: run 'make test-deps' (or 'make test'), which installs them in .build/test-venv")
            throw XCTSkip("no test venv")
        }
    }

    var alembic: [String] { [RunCommandTests.venv + "/alembic", "-c", RunCommandTests.fixtures + "/alembic/alembic.ini"] }
    var django: [String] { [RunCommandTests.venv + "/python", RunCommandTests.fixtures + "/django/manage.py"] }

    /// An empty database brought to Alembic revision 0003 by Alembic itself, with two users of the same name.
    func alembicDatabase() throws -> String {
        try requireVenv()
        let db = path("app.db")
        try Database(path: db, mode: .create).execute("PRAGMA journal_mode = WAL")
        let upgrade = try run(alembic[0], Array(alembic.dropFirst()) + ["upgrade", "0003"], environment: ["BACKSTOP_DB": db])
        XCTAssertEqual(upgrade.status, 0, upgrade.stderr)
        try execute(db, "INSERT INTO users(name) VALUES ('ann'), ('bob'), ('ann')")
        return db
    }

    func alembicVersion(_ db: String) throws -> String? {
        try Database(path: db, mode: .readOnly).scalar("SELECT version_num FROM alembic_version")?.string
    }

    func testAnAlembicRunThatFailsHalfwayIsRestoredExactlyThenSucceedsAndRollsBack() throws {
        let db = try alembicDatabase()
        let before = try contentDigest(db)
        let failed = try backstop(["run", "--db", "app.db", "--"] + alembic + ["upgrade", "head"])
        XCTAssertEqual(failed.status, 8, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("error: the run of \(alembic.joined(separator: " ")) upgrade head failed:\n  \(alembic.joined(separator: " ")) upgrade head exited with status 1\n"), failed.stderr)
        XCTAssertTrue(failed.stderr.contains("The database was restored to its state before the run"), failed.stderr)
        XCTAssertEqual(try contentDigest(db), before, "the half-applied revision (a column, no index) is gone")
        XCTAssertEqual(try alembicVersion(db), "0003")
        // The failed state is kept for inspection, as the restore's pre-restore snapshot.
        let kinds = try listed(["--db", "app.db"]).map { $0["kind"] as? String }
        XCTAssertEqual(kinds, ["pre-migration", "pre-restore"])
        let snapshot = try XCTUnwrap(listed(["--db", "app.db"]).first)
        XCTAssertEqual((snapshot["app_migrations"] as? [String: Any])?["tool"] as? String, "alembic")
        XCTAssertEqual((snapshot["app_migrations"] as? [String: Any])?["version"] as? String, "0003")
        XCTAssertEqual(snapshot["command"] as? String, alembic.joined(separator: " ") + " upgrade head")

        // After the fix, the same run succeeds, is recorded, and rollback undoes it.
        try execute(db, "DELETE FROM users WHERE id = 3")
        let fixed = try contentDigest(db)
        let succeeded = try backstop(["run", "--db", "app.db", "--json", "--"] + alembic + ["upgrade", "head"])
        XCTAssertEqual(succeeded.status, 0, succeeded.stderr)
        let report = try document(succeeded, schema: "run")
        XCTAssertEqual(report["ok"] as? Bool, true)
        XCTAssertEqual((report["before"] as? [String: Any])?["version"] as? String, "0003")
        XCTAssertEqual((report["after"] as? [String: Any])?["version"] as? String, "0004")
        XCTAssertEqual(report["run"] as? Int, 1)
        XCTAssertEqual(try alembicVersion(db), "0004")
        let history = try backstop(["history", "--db", "app.db"])
        XCTAssertTrue(history.stdout.contains("alembic 0003 -> 0004"), history.stdout)
        let rollback = try backstop(["rollback", "--db", "app.db", "--yes"])
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertTrue(rollback.stderr.contains("at version 0003 of alembic"), rollback.stderr)
        XCTAssertEqual(try contentDigest(db), fixed)
    }

    func testADjangoRunThatFailsInItsThirdMigrationIsRestoredToBeforeTheWholeRun() throws {
        try requireVenv()
        let db = path("shop.db")
        try Database(path: db, mode: .create).execute("PRAGMA user_version = 0")
        let first = try run(django[0], Array(django.dropFirst()) + ["migrate", "shop", "0001"], environment: ["BACKSTOP_DB": db])
        XCTAssertEqual(first.status, 0, first.stderr)
        try execute(db, "INSERT INTO shop_product(name) VALUES ('lamp'), ('')")
        let before = try contentDigest(db)
        // Django applies 0002 and commits it, then 0003 fails: without Backstop the database is left at 0002.
        let failed = try backstop(["run", "--db", "shop.db", "--"] + django + ["migrate", "shop"])
        XCTAssertEqual(failed.status, 8, failed.stderr)
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("SELECT count(*) FROM django_migrations"), 1)
        try execute(db, "UPDATE shop_product SET name = 'desk' WHERE name = ''")
        let succeeded = try backstop(["run", "--db", "shop.db", "-q", "--"] + django + ["migrate", "shop"])
        XCTAssertEqual(succeeded.status, 0, succeeded.stderr)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("SELECT count(*) FROM shop_product WHERE sku = upper(name)"), 2)
        let status = try document(backstop(["status", "--db", "shop.db", "--json"]), schema: "status")
        XCTAssertEqual((status["app_migrations"] as? [String: Any])?["version"] as? String, "shop.0003_sku")
        XCTAssertEqual((status["app_migrations"] as? [String: Any])?["applied"] as? Int, 3)
    }

    func testADryRunUsesAPrivateCopyAndLeavesTheLiveDatabaseUntouched() throws {
        let db = try alembicDatabase()
        try execute(db, "DELETE FROM users WHERE id = 3")
        let before = try contentDigest(db)
        let rehearsal = try backstop(["run", "--db", "app.db", "--dry-run", "--json", "--"] + alembic + ["upgrade", "head"])
        XCTAssertEqual(rehearsal.status, 0, rehearsal.stderr)
        let report = try document(rehearsal, schema: "run")
        XCTAssertEqual(report["dry_run"] as? Bool, true)
        XCTAssertEqual((report["after"] as? [String: Any])?["version"] as? String, "0004")
        XCTAssertEqual((report["schema_changes"] as? [String: Any])?["columns_added"] as? [String: [String]], ["users": ["nickname"]])
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertEqual(try listed(["--db", "app.db"]).count, 0, "a rehearsal stores no snapshot")
        XCTAssertEqual(try FileSystem.listDirectory(path("app.db.backstop")).filter { $0.hasPrefix(".tmp.") }, [], "the copy is gone")
        // A command that ignores the copy and writes the live database is caught.
        let stray = try backstop(["run", "--db", "app.db", "--dry-run", "--allow-no-change", "--", "sqlite3", db, "INSERT INTO users(name) VALUES ('stray')"])
        XCTAssertEqual(stray.status, 8, stray.stderr)
        XCTAssertTrue(stray.stderr.contains("the live database changed during the rehearsal"), stray.stderr)
    }

    func testACommandKilledByASignalOrStoppedByTheTimeLimitIsRolledBack() throws {
        let db = try makeDatabase(rows: 100)
        let before = try contentDigest(db)
        let killed = try backstop(["run", "--db", "app.db", "--", "sh", "-c", "sqlite3 \"$BACKSTOP_DB\" 'DELETE FROM items; PRAGMA user_version = 2'; kill -9 $$"])
        XCTAssertEqual(killed.status, 8, killed.stderr)
        XCTAssertTrue(killed.stderr.contains("was ended by signal 9"), killed.stderr)
        XCTAssertEqual(try contentDigest(db), before)
        let started = Date()
        let slow = try backstop(["run", "--db", "app.db", "--timeout", "1s", "--", "sh", "-c", "sqlite3 \"$BACKSTOP_DB\" 'DELETE FROM items'; sleep 30"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 25, "the command's whole process group was stopped, its sleep included")
        XCTAssertEqual(slow.status, 8, slow.stderr)
        XCTAssertTrue(slow.stderr.contains("ran past its time limit and was stopped"), slow.stderr)
        XCTAssertEqual(try contentDigest(db), before)
    }

    func testASignalToBackstopWhileTheCommandRunsIsPassedOnAndTheDatabaseRestored() throws {
        let db = try makeDatabase(rows: 100)
        let before = try contentDigest(db)
        let marker = path("started")
        let child = try spawnBackstop(["run", "--db", "app.db", "--", "sh", "-c",
                                       "sqlite3 \"$BACKSTOP_DB\" 'DELETE FROM items'; touch \(marker); sleep 60"])
        let deadline = Date().addingTimeInterval(60)
        while !FileSystem.exists(marker) && Date() < deadline { usleep(20_000) }
        XCTAssertTrue(FileSystem.exists(marker), "the command never started: \(child.stderr)")
        let signalled = Date()
        child.signal(SIGTERM)
        let ended = child.wait()
        XCTAssertEqual(ended.status, 8, child.stderr)
        XCTAssertLessThan(Date().timeIntervalSince(signalled), 30, "the command's group got the signal")
        XCTAssertTrue(child.stderr.contains("Backstop was interrupted (signal 15) while"), child.stderr)
        XCTAssertEqual(try contentDigest(db), before)
    }

    func testEveryCheckAfterTheCommandCanFailTheRun() throws {
        let db = try makeDatabase(rows: 100)
        try execute(db, "CREATE TABLE parents(id INTEGER PRIMARY KEY); CREATE TABLE children(id INTEGER PRIMARY KEY, parent INTEGER REFERENCES parents(id)); PRAGMA user_version = 1")
        let before = try contentDigest(db)
        let sqlite = { (sql: String) in ["sqlite3", db, sql] }
        // The version did not move.
        let unchanged = try backstop(["run", "--db", "app.db", "--"] + sqlite("UPDATE items SET name = 'renamed' WHERE id = 1"))
        XCTAssertEqual(unchanged.status, 8, unchanged.stderr)
        XCTAssertTrue(unchanged.stderr.contains("PRAGMA user_version did not move (still 1); add --allow-no-change if that is expected"), unchanged.stderr)
        XCTAssertEqual(try contentDigest(db), before)
        // ...unless that is expected; then a new foreign-key violation still fails it.
        let orphan = try backstop(["run", "--db", "app.db", "--allow-no-change", "--"] + sqlite("INSERT INTO children(parent) VALUES (42)"))
        XCTAssertEqual(orphan.status, 8, orphan.stderr)
        XCTAssertTrue(orphan.stderr.contains("1 row now points at nothing: children rowid 1 -> parents"), orphan.stderr)
        // A verify query that returns rows.
        try "SELECT id FROM items WHERE name = 'bad';\n".write(toFile: path("verify.sql"), atomically: true, encoding: .utf8)
        let verify = try backstop(["run", "--db", "app.db", "--verify", "verify.sql", "--"] + sqlite("UPDATE items SET name = 'bad' WHERE id = 7; PRAGMA user_version = 2"))
        XCTAssertEqual(verify.status, 8, verify.stderr)
        XCTAssertTrue(verify.stderr.contains("verify.sql line 1 returned rows: SELECT id FROM items WHERE name = 'bad';\n      id=7"), verify.stderr)
        XCTAssertEqual(try contentDigest(db), before)
        // A migrator that records a failed migration (golang-migrate's dirty flag).
        try execute(db, "CREATE TABLE schema_migrations(version bigint PRIMARY KEY, dirty boolean); INSERT INTO schema_migrations VALUES (1, 0)")
        let withTable = try contentDigest(db)
        let dirty = try backstop(["run", "--db", "app.db", "--"] + sqlite("UPDATE schema_migrations SET version = 2, dirty = 1"))
        XCTAssertEqual(dirty.status, 8, dirty.stderr)
        XCTAssertTrue(dirty.stderr.contains("golang-migrate records a failed migration: dirty at version 2"), dirty.stderr)
        XCTAssertEqual(try contentDigest(db), withTable)
        XCTAssertNotEqual(before, withTable)
        // --no-restore keeps the failed state and says how to go back.
        let kept = try backstop(["run", "--db", "app.db", "--no-restore", "--"] + sqlite("UPDATE schema_migrations SET version = 2, dirty = 1"))
        XCTAssertEqual(kept.status, 8, kept.stderr)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("SELECT dirty FROM schema_migrations"), 1)
        XCTAssertTrue(kept.stderr.contains("The failed state was kept (--no-restore). Restore the state before the run with: backstop restore "), kept.stderr)
        let check = try backstop(["check", "--db", "app.db"])
        XCTAssertEqual(check.status, 7, check.stdout)
        XCTAssertTrue(check.stdout.contains("golang-migrate: dirty at version 2: its migration stopped halfway"), check.stdout)
    }

    func testTheGuardAndTheLockAreHonoured() throws {
        let db = try makeDatabase(rows: 10)
        try execute(db, "CREATE TABLE sessions(id INTEGER PRIMARY KEY, status TEXT); INSERT INTO sessions(status) VALUES ('running')")
        try writeMigration("guard.sql", "SELECT id, status FROM sessions WHERE status = 'running';\n")
        let guarded = try backstop(["run", "--db", "app.db", "--", "sqlite3", db, "PRAGMA user_version = 5"])
        XCTAssertEqual(guarded.status, 7, guarded.stderr)
        XCTAssertTrue(guarded.stderr.hasPrefix("error: the guard (guard.sql) refuses the run; nothing was changed:"), guarded.stderr)
        XCTAssertFalse(FileSystem.exists(path("app.db.backstop/sequence")), "no snapshot was taken")
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("PRAGMA user_version"), 0)
        try execute(db, "UPDATE sessions SET status = 'done'")
        // Another run holds the database: this one waits, then gives up with nothing changed.
        let first = try backstopStopped(at: "run.after-snapshot", ["run", "--db", "app.db", "--", "sqlite3", db, "PRAGMA user_version = 5"])
        let second = try backstop(["run", "--db", "app.db", "--lock-wait", "0.5", "--", "sqlite3", db, "PRAGMA user_version = 6"])
        XCTAssertEqual(second.status, 5, second.stderr)
        first.resume()
        XCTAssertEqual(first.wait().status, 0, first.stderr)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("PRAGMA user_version"), 5)
    }

    func testOtherProcessesThatHadTheDatabaseOpenAreNamedBeforeARestore() throws {
        let db = try makeDatabase(rows: 10)
        let app = try hold(db, "open")
        let failed = try backstop(["run", "--db", "app.db", "--", "sh", "-c", "exit 3"])
        XCTAssertEqual(failed.status, 8, failed.stderr)
        XCTAssertTrue(failed.stderr.contains("other processes had the database open during the run, and what they wrote since the snapshot is not kept: pid \(app.pid) (backstop-loadgen)"), failed.stderr)
        app.release()
    }
}
