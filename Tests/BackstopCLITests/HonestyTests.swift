import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// A command that did not do what was asked does not exit 0; a check that could not run is not "corrupt".
final class HonestyTests: BackstopTestCase {
    func snapshot(_ arguments: [String] = []) throws -> String {
        let result = try backstop(["snapshot", "--db", "app.db"] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testVerifyOfAMissingStoreOrOfAStoreWithoutSnapshotsOfTheDatabaseFails() throws {
        try makeDatabase(rows: 10)
        let typo = try backstop(["verify", "--store", "no-such-store", "--json"])
        XCTAssertEqual(typo.status, 3)
        let document = try document(typo, schema: "verify")
        XCTAssertEqual(document["ok"] as? Bool, false)
        XCTAssertEqual(typo.stderr, "error: there is no snapshot store at \(path("no-such-store")): nothing was verified\n")
        // A store that holds another database's snapshots only.
        try makeDatabase("other.db", rows: 10)
        XCTAssertEqual(try backstop(["snapshot", "--db", "other.db", "--store", "store", "-q"]).status, 0)
        let none = try backstop(["verify", "--db", "app.db", "--store", "store"])
        XCTAssertEqual(none.status, 3)
        XCTAssertEqual(none.stderr, "error: there are no snapshots of \(path("app.db")) in \(path("store")): nothing was verified\n")
        XCTAssertEqual(try backstop(["verify", "--db", "other.db", "--store", "store", "-q"]).status, 0)
    }

    func testVerifyDeepNeedsNoWriteAccessToTheStore() throws {
        try makeDatabase(rows: 2000)
        let mount = path("ro")
        mkdir(mount, 0o700)
        guard try run("/bin/mount", ["-t", "tmpfs", "-o", "size=8m", "tmpfs", mount]).status == 0 else {
            throw XCTSkip("cannot mount a tmpfs here (needs root)")
        }
        defer { _ = try? run("/bin/umount", [mount]) }
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "--store", "ro/store", "-q"]).status, 0)
        // A full disk: deep verification writes nothing.
        XCTAssertEqual(try run("/bin/sh", ["-c", "cat /dev/zero > \(mount)/filler 2>/dev/null; true"]).status, 0)
        let full = try backstop(["verify", "--db", "app.db", "--store", "ro/store", "--deep"])
        XCTAssertEqual(full.status, 0, full.stdout + full.stderr)
        unlink(mount + "/filler")
        // A read-only mount.
        XCTAssertEqual(try run("/bin/mount", ["-o", "remount,ro", mount]).status, 0)
        let readOnly = try backstop(["verify", "--db", "app.db", "--store", "ro/store", "--deep"])
        XCTAssertEqual(readOnly.status, 0, readOnly.stdout + readOnly.stderr)
        XCTAssertTrue(readOnly.stdout.hasPrefix("ok      "), readOnly.stdout)
        let restore = try backstop(["restore", "--latest", "--db", "app.db", "--store", "ro/store", "--to", "copy.db"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
    }

    func testRestoreToNeverLeavesTheImageBesideAStaleWAL() throws {
        try makeDatabase(rows: 100)
        let id = try snapshot()
        // A database whose main file was lost, with its -wal left behind.
        try makeDatabase("lost.db", rows: 50)
        let writer = try Database(path: path("lost.db"), mode: .readWrite)
        try writer.execute("PRAGMA wal_autocheckpoint = 0; DELETE FROM items WHERE id > 5")
        try FileManager.default.copyItem(atPath: path("lost.db-wal"), toPath: path("copy.db-wal"))
        let restore = try backstop(["restore", id, "--db", "app.db", "--to", "copy.db"])
        XCTAssertEqual(restore.status, 6, restore.stderr)
        XCTAssertEqual(restore.stderr, """
            error: copy.db-wal is beside \(path("copy.db")), left from a database that is no longer there and cannot be settled: SQLite would apply it to the restored file and damage it; nothing was changed
            hint: if no process uses the database, remove them (rm -- \(path("copy.db-wal"))); or restore to another path

            """)
        XCTAssertFalse(FileSystem.exists(path("copy.db")))
        unlink(path("copy.db-wal"))
        XCTAssertEqual(try backstop(["restore", id, "--db", "app.db", "--to", "copy.db", "-q"]).status, 0)
        XCTAssertEqual(try count(path("copy.db")), 100)
    }

    func testAByteOrderMarkDoesNotHideAPreconditionAndANulByteIsRefused() throws {
        try makeDatabase(rows: 10)
        let bom = Data([0xEF, 0xBB, 0xBF]) + Data("-- backstop:require\nSELECT 1 FROM items WHERE id = 1;\n-- backstop:up\nDELETE FROM items;\n".utf8)
        try writeMigration("0001_clear.sql", bytes: bom)
        let refused = try backstop(["migrate", "--db", "app.db", "--yes"])
        XCTAssertEqual(refused.status, 8, refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("error: migration 0001_clear: precondition failed\n  at \(path("migrations/0001_clear.sql")):2: SELECT 1 FROM items WHERE id = 1;"), refused.stderr)
        XCTAssertEqual(try count(path("app.db")), 10)

        try writeMigration("0001_clear.sql", bytes: Data("DELETE FROM items\u{0} WHERE id > 5;\n".utf8))
        let nul = try backstop(["migrate", "--db", "app.db", "--yes"])
        XCTAssertEqual(nul.status, 7, nul.stderr)
        XCTAssertTrue(nul.stderr.contains("\(path("migrations/0001_clear.sql")):1: the file holds a NUL byte (byte 17), which would cut the SQL short; remove it (fix the file)"), nul.stderr)
        XCTAssertEqual(try count(path("app.db")), 10)
    }

    func testADownSectionOfOnlyCommentsIsNoUndoAndKeepsTheHistoryRow() throws {
        try makeDatabase(rows: 10)
        try writeMigration("0001_t.sql", "CREATE TABLE t(x);\n-- backstop:down\n-- DROP TABLE t;\n")
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)
        let down = try backstop(["down", "--to", "0", "--db", "app.db", "--yes"])
        XCTAssertEqual(down.status, 6, down.stderr)
        XCTAssertTrue(down.stderr.hasPrefix("error: cannot go down to 0: 0001_t.sql (its down section holds only comments: it would undo nothing); nothing was changed\n"), down.stderr)
        XCTAssertEqual(try Database(path: path("app.db"), mode: .readOnly).int("SELECT count(*) FROM backstop_migrations"), 1)
        XCTAssertTrue(try Database(path: path("app.db"), mode: .readOnly).tableExists("t"))
    }

    func testASnapshotOfADamagedDatabaseIsKeptFlaggedAndNeedsAnExplicitRestore() throws {
        let db = try makeDatabase(rows: 3000)
        try execute(db, "CREATE INDEX items_name ON items(name); PRAGMA journal_mode = DELETE")
        // Damage the index: garbage in the middle of its root page.
        let live = try Database(path: db, mode: .readOnly)
        let root = try live.int("SELECT rootpage FROM sqlite_schema WHERE name = 'items_name'")
        let pageSize = try live.int("PRAGMA page_size")
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: db))
        try handle.seek(toOffset: UInt64((root - 1) * pageSize))
        handle.write(Data(repeating: 0xA5, count: 64))
        try handle.close()
        XCTAssertNotEqual(try Database(path: db, mode: .readOnly).integrityProblems(quick: true), [])

        let taken = try backstop(["snapshot", "--db", "app.db"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let id = taken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(taken.stderr.contains("warning: \(db) fails PRAGMA quick_check: "), taken.stderr)
        XCTAssertTrue(taken.stderr.contains("Snapshot \(id) was kept (it may be the best copy there is); restoring it needs --allow-failed-check"), taken.stderr)
        let snapshot = try XCTUnwrap(try listed(["--db", "app.db"]).first)
        let check = try XCTUnwrap(snapshot["check"] as? [String: Any])
        XCTAssertEqual(check["ok"] as? Bool, false)
        let list = try backstop(["list", "--db", "app.db"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("FAILED"), list.stdout)
        let verify = try backstop(["verify", "--db", "app.db"])
        XCTAssertEqual(verify.status, 0, verify.stdout)
        XCTAssertTrue(verify.stderr.contains("\(id): the database already failed quick_check when this snapshot was taken"), verify.stderr)

        let refused = try backstop(["restore", id, "--db", "app.db", "--to", "copy.db"])
        XCTAssertEqual(refused.status, 6, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("snapshot \(id) was taken of a database that failed quick_check"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("hint: pick an earlier snapshot with 'backstop list', or add --allow-failed-check"), refused.stderr)
        XCTAssertFalse(FileSystem.exists(path("copy.db")))
        XCTAssertEqual(try backstop(["restore", id, "--db", "app.db", "--to", "copy.db", "--allow-failed-check", "-q"]).status, 0)
    }

    /// A schema that uses a collation and a function the application registers in its own code.
    func makeApplicationSchema() throws -> String {
        let db = try makeDatabase(rows: 500)
        try execute(db, """
            UPDATE items SET name = CASE WHEN id % 2 = 0 THEN upper(name) ELSE name END;
            CREATE INDEX items_name ON items(name COLLATE NOCASE);
            CREATE TABLE emails(id INTEGER PRIMARY KEY, address TEXT CHECK (length(address) > 3));
            INSERT INTO emails(address) VALUES ('a@example.com'), ('b@example.com');
            CREATE INDEX emails_lower ON emails(lower(address));
            CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
            INSERT INTO notes(body) VALUES ('one'), ('two');
            PRAGMA writable_schema = ON;
            UPDATE sqlite_schema SET sql = replace(sql, 'NOCASE', 'app_nocase') WHERE name = 'items_name';
            UPDATE sqlite_schema SET sql = replace(sql, 'length(address) > 3', 'app_valid_email(address)') WHERE name = 'emails';
            UPDATE sqlite_schema SET sql = replace(sql, 'lower(address)', 'app_norm(address)') WHERE name = 'emails_lower';
            PRAGMA writable_schema = OFF;
            """)
        return db
    }

    func testCollationsAndFunctionsTheApplicationDefinesAreReportedAsUncheckedNeverAsCorruption() throws {
        let db = try makeApplicationSchema()
        let taken = try backstop(["snapshot", "--db", "app.db"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let id = taken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let deep = try backstop(["verify", id, "--db", "app.db", "--deep"])
        XCTAssertEqual(deep.status, 0, deep.stdout + deep.stderr)
        XCTAssertEqual(deep.stdout, "ok      \(id)  deep\n")
        XCTAssertTrue(deep.stderr.contains("not checked: index items_name: collation app_nocase is defined by the application, not here"), deep.stderr)
        XCTAssertTrue(deep.stderr.contains("not checked: index emails_lower: function app_norm is defined by the application, not here"), deep.stderr)
        XCTAssertFalse(deep.stderr.contains("corrupt"), deep.stderr)
        // Diff and a live restore work on such snapshots too (this test's own connection has no
        // app_norm, so it changes a table that does not need it).
        try execute(db, "DELETE FROM notes WHERE id = 1")
        let diff = try document(backstop(["diff", id, "--db", "app.db", "--json"]), schema: "diff")
        let tables = diff["tables"] as! [[String: Any]]
        XCTAssertEqual(tables.first { $0["table"] as? String == "notes" }?["deleted"] as? Int, 1)
        XCTAssertEqual(tables.first { $0["table"] as? String == "emails" }?["deleted"] as? Int, 0)
        let restore = try backstop(["restore", id, "--db", "app.db", "--yes", "-q"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try count(db, "notes"), 2)
    }

    func testIfChangedNeverTrustsADamagedNewestSnapshot() throws {
        try makeDatabase(rows: 500)
        let id = try snapshot(["--if-changed"])
        XCTAssertEqual(truncate(path("app.db.backstop/\(id).sqlite.gz"), 100), 0)
        let hourly = try backstop(["snapshot", "--db", "app.db", "--if-changed"])
        XCTAssertEqual(hourly.status, 0, hourly.stderr)
        XCTAssertTrue(hourly.stderr.contains("warning: the newest snapshot \(id) of \(path("app.db")) is damaged (see 'backstop verify'), so nothing was compared with it; a new snapshot is taken"), hourly.stderr)
        let fresh = hourly.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertNotEqual(fresh, id)
        XCTAssertEqual(try backstop(["verify", fresh, "--db", "app.db", "--deep", "-q"]).status, 0)
    }

    func testDiffAndRecoverMatchRowsOfTablesWithARealRowidColumnOrNullKeys() throws {
        let live = try Database(path: path("app.db"), mode: .create)
        try live.execute("""
            CREATE TABLE tokens(rowid TEXT, owner TEXT);
            INSERT INTO tokens VALUES ('t-1', 'ann'), ('t-2', 'bob'), ('t-3', 'cyd');
            CREATE TABLE notes(code TEXT PRIMARY KEY, body TEXT);
            INSERT INTO notes VALUES (NULL, 'no code'), ('a', 'alpha'), ('b', 'beta');
            """)
        let id = try snapshot()
        try live.execute("DELETE FROM tokens WHERE owner = 'bob'; DELETE FROM notes WHERE code = 'b'")
        let diff = try document(backstop(["diff", id, "--db", "app.db", "--json"]), schema: "diff")
        let tables = Dictionary(uniqueKeysWithValues: (diff["tables"] as! [[String: Any]]).map { ($0["table"] as! String, $0) })
        XCTAssertEqual(tables["tokens"]?["deleted"] as? Int, 1)
        XCTAssertEqual(tables["tokens"]?["changed"] as? Int, 0)
        XCTAssertEqual(tables["tokens"]?["key"] as? [String], ["oid"])
        XCTAssertEqual(tables["notes"]?["deleted"] as? Int, 1)
        XCTAssertEqual(tables["notes"]?["inserted"] as? Int, 0, "the row whose key is NULL is the same row")
        XCTAssertEqual(tables["notes"]?["changed"] as? Int, 0)
        let recover = try backstop(["recover", id, "--db", "app.db", "--table", "tokens", "--where", "owner = 'bob'", "--yes", "-q"])
        XCTAssertEqual(recover.status, 0, recover.stderr)
        XCTAssertEqual(try live.rows("SELECT rowid, oid, owner FROM tokens ORDER BY oid"),
                       [[.text("t-1"), .integer(1), .text("ann")], [.text("t-2"), .integer(2), .text("bob")], [.text("t-3"), .integer(3), .text("cyd")]])
    }

    func testRecoverEvaluatesThePredicateBeforeLockingTheLiveDatabase() throws {
        try makeDatabase(rows: 100)
        let id = try snapshot()
        try execute(path("app.db"), "DELETE FROM items WHERE id > 90")
        let child = try backstopStopped(at: "recover.after-predicate",
                                        ["recover", id, "--db", "app.db", "--table", "items", "--where", "id > 90", "--yes"])
        // The predicate has run; neither Backstop's lock nor SQLite's write lock is held: the app writes freely.
        XCTAssertNoThrow(try DatabaseLock.acquire(path("app.db"), wait: 0).release())
        let app = try Database(path: path("app.db"), mode: .readWrite, busyTimeout: 0)
        XCTAssertNoThrow(try app.execute("BEGIN IMMEDIATE; INSERT INTO items(id, name) VALUES (5000, 'written meanwhile'); COMMIT"))
        child.resume()
        XCTAssertEqual(child.wait().status, 0, child.stderr)
        XCTAssertEqual(try count(path("app.db")), 101)
    }

    func testDryRunAndRealRunGiveTheSameVerdictDespiteAnUnrelatedOrphan() throws {
        let db = path("app.db")
        let live = try Database(path: db, mode: .create)
        try live.execute("""
            CREATE TABLE owners(id INTEGER PRIMARY KEY, name TEXT);
            CREATE TABLE pets(id INTEGER PRIMARY KEY, owner_id INTEGER REFERENCES owners(id), name TEXT);
            CREATE TABLE notes(id INTEGER PRIMARY KEY, pet_id INTEGER REFERENCES pets(id));
            INSERT INTO owners VALUES (1, 'ann'), (2, 'bob');
            INSERT INTO pets VALUES (1, 1, 'rex'), (2, 2, 'tom');
            INSERT INTO notes VALUES (1, 99);
            """)
        let id = try snapshot()
        try live.execute("DELETE FROM pets WHERE id = 2")
        let arguments = ["recover", id, "--db", "app.db", "--table", "pets", "--where", "id = 2"]
        let dry = try backstop(arguments + ["--dry-run"])
        XCTAssertEqual(dry.status, 0, dry.stderr)
        let real = try backstop(arguments + ["--yes"])
        XCTAssertEqual(real.status, 0, real.stderr)
        XCTAssertEqual(try live.rows("SELECT name FROM pets WHERE id = 2"), [[.text("tom")]])
        XCTAssertEqual(try live.rows("PRAGMA foreign_key_check").count, 1, "the old orphan note is still there, and was not blamed")
    }
}
