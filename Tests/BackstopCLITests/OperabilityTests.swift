import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Operable in cron, after moves, in scripts: which database, one behaviour per situation, next steps
/// that work as printed, records an operator can audit. Exact output where it is stable.
final class OperabilityTests: BackstopTestCase {
    // MARK: - Which database

    func testPrecedenceIsFlagsThenDatabaseNameThenEnvironmentThenFile() throws {
        for name in ["main", "accounts", "env", "flag"] { try makeDatabase("\(name).db", rows: 1) }
        try "db = \"main.db\"\n\n[databases.accounts]\ndb = \"accounts.db\"\n".write(toFile: path("backstop.toml"), atomically: true, encoding: .utf8)
        let environment = ["BACKSTOP_DB": "env.db"]
        func database(_ arguments: [String], _ environment: [String: String]) throws -> String {
            let result = try backstop(["snapshot", "--json"] + arguments, environment: environment)
            XCTAssertEqual(result.status, 0, result.stderr)
            return try document(result, schema: "snapshot")["database"] as! String
        }
        XCTAssertEqual(try database(["--db", "flag.db", "--database", "accounts"], environment), path("flag.db"))
        XCTAssertEqual(try database(["--database", "accounts"], environment), path("accounts.db"), "--database beats the environment")
        XCTAssertEqual(try database([], environment), path("env.db"), "the environment beats the file")
        XCTAssertEqual(try database([], [:]), path("main.db"))
    }

    func testADatabaseAndItsStoreThatMovedTogetherAreAdoptedOnceAndKeepTheirHistory() throws {
        mkdir(path("old"), 0o755)
        let old = try makeDatabase("old/app.db", rows: 100)
        mkdir(path("old/migrations"), 0o755)
        try "CREATE TABLE one(x);\n".write(toFile: path("old/migrations/0001_one.sql"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try backstop(["migrate", "--db", old, "--dir", path("old/migrations"), "--yes", "-q"]).status, 0)
        try "CREATE TABLE two(x);\n".write(toFile: path("old/migrations/0002_two.sql"), atomically: true, encoding: .utf8)
        XCTAssertEqual(try backstop(["migrate", "--db", old, "--dir", path("old/migrations"), "--yes", "-q"]).status, 0)
        // The whole folder moves (a new host, a new mount).
        XCTAssertEqual(rename(path("old"), path("new")), 0)
        let db = path("new/app.db"), store = path("new/app.db.backstop"), dir = path("new/migrations")

        let latest = try backstop(["restore", "--latest", "--db", db, "--to", "copy.db"])
        XCTAssertEqual(latest.status, 3)
        XCTAssertEqual(latest.stderr, """
            error: there are no snapshots of \(db) in \(store); it holds snapshots of \(path("old/app.db")) (2). If the database moved from \(path("old/app.db")), adopt its snapshots
            hint: adopt them with: backstop adopt \(path("old/app.db")) --db \(db) --store \(store)

            """)
        let list = try backstop(["list", "--db", db])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stderr.contains("hint: adopt them with: backstop adopt \(path("old/app.db")) --db \(db) --store \(store)"), list.stderr)

        // The hint, run as printed.
        let hint = try XCTUnwrap(latest.stderr.components(separatedBy: "adopt them with: ").last?.trimmingCharacters(in: .whitespacesAndNewlines))
        let adopt = try run("/bin/sh", ["-c", hint.replacingOccurrences(of: "backstop ", with: BackstopTestCase.backstopPath + " ", options: .anchored)])
        XCTAssertEqual(adopt.status, 0, adopt.stderr)
        XCTAssertEqual(adopt.stdout, "Snapshots taken of \(path("old/app.db")) (2) now belong to \(db); it has 2 in \(store).\n")

        XCTAssertEqual(try backstop(["restore", "--latest", "--db", db, "--to", "latest.db", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["restore", "--at", "now", "--db", db, "--to", "at.db", "-q"]).status, 0)
        let history = try backstop(["history", "--db", db])
        XCTAssertEqual(history.status, 0, history.stderr)
        XCTAssertFalse(history.stdout.contains("no longer in the store"), history.stdout)
        let rollback = try backstop(["rollback", "--db", db, "--dir", dir, "--yes", "-q"])
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertFalse(try Database(path: db, mode: .readOnly).tableExists("two"))
        XCTAssertTrue(try Database(path: db, mode: .readOnly).tableExists("one"))
        let adopted = try listed(["--db", db]).map { $0["database_now"] as? String }
        XCTAssertEqual(Set(adopted), [db])
    }

    func testAllRunsOverEveryConfiguredDatabaseAttemptingEachAndExitingWithTheWorstStatus() throws {
        try makeDatabase("a.db", rows: 10)
        try makeDatabase("b.db", rows: 10)
        try """
            policy = "keep.toml"
            [databases.a]
            db = "a.db"
            [databases.missing]
            db = "missing.db"
            [databases.b]
            db = "b.db"
            """.write(toFile: path("backstop.toml"), atomically: true, encoding: .utf8)
        try "keep_last = 1\n".write(toFile: path("keep.toml"), atomically: true, encoding: .utf8)
        let snapshot = try backstop(["snapshot", "--all", "--json"])
        XCTAssertEqual(snapshot.status, 1, snapshot.stderr)
        let lines = snapshot.stdout.split(separator: "\n").map { try! JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        XCTAssertEqual(lines.count, 3, snapshot.stdout)
        // In the order of their names, each attempted.
        XCTAssertEqual(lines.map { $0["schema"] as? String }, ["backstop.snapshot/1", "backstop.snapshot/1", "backstop.error/1"])
        XCTAssertEqual(lines.map { $0["database"] as? String }, [path("a.db"), path("b.db"), path("missing.db")])
        XCTAssertTrue(snapshot.stderr.contains("error: \(path("missing.db"))"), snapshot.stderr)
        XCTAssertEqual(try listed(["--db", "b.db"]).count, 1, "b was attempted after the missing database failed")

        // Without the missing database everything succeeds, and --quiet prints nothing (cron).
        try """
            policy = "keep.toml"
            [databases.a]
            db = "a.db"
            [databases.b]
            db = "b.db"
            """.write(toFile: path("backstop.toml"), atomically: true, encoding: .utf8)
        for command in [["snapshot", "--all", "-q"], ["prune", "--all", "-q"], ["verify", "--all", "--deep", "-q"]] {
            let result = try backstop(command)
            XCTAssertEqual(result.status, 0, "\(command): \(result.stderr)")
            XCTAssertEqual(result.stdout + result.stderr, "", "\(command)")
        }
        XCTAssertEqual(try listed(["--db", "a.db"]).count, 1)
        XCTAssertEqual(try listed(["--db", "b.db"]).count, 1)
        // A damaged snapshot of one database: verify --all says which, and exits 4.
        let damaged = try XCTUnwrap(listed(["--db", "a.db"]).first?["file"] as? String)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path("a.db.backstop/" + damaged)))
        try handle.seek(toOffset: 40)
        handle.write(Data(repeating: 0x55, count: 16))
        try handle.close()
        let verify = try backstop(["verify", "--all"])
        XCTAssertEqual(verify.status, 4, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stdout.contains("FAILED"), verify.stdout)
        XCTAssertEqual(verify.stdout.components(separatedBy: "ok      ").count, 2, "b was verified too: \(verify.stdout)")
    }

    // MARK: - One JSON shape per command

    func testEveryJSONDocumentCarriesItsSchemaAndIfChangedHasOneShape() throws {
        try makeDatabase(rows: 20)
        let created = try document(backstop(["snapshot", "--db", "app.db", "--if-changed", "--json"]), schema: "snapshot")
        let unchanged = try document(backstop(["snapshot", "--db", "app.db", "--if-changed", "--json"]), schema: "snapshot")
        XCTAssertEqual(Set(created.keys), Set(unchanged.keys))
        XCTAssertEqual(created["outcome"] as? String, "created")
        XCTAssertEqual(unchanged["outcome"] as? String, "unchanged")
        XCTAssertEqual((unchanged["snapshot"] as? [String: Any])?["id"] as? String, (created["snapshot"] as? [String: Any])?["id"] as? String)
        try writeMigration("0001_t.sql", "CREATE TABLE t(x);\n")
        try "keep_last = 2\n".write(toFile: path("keep.toml"), atomically: true, encoding: .utf8)
        let id = try XCTUnwrap((created["snapshot"] as? [String: Any])?["id"] as? String)
        let commands: [(String, [String])] = [
            ("list", ["list", "--db", "app.db"]), ("show", ["show", id, "--db", "app.db"]),
            ("verify", ["verify", "--db", "app.db"]), ("status", ["status", "--db", "app.db"]),
            ("check", ["check", "--db", "app.db"]), ("migrate", ["migrate", "--db", "app.db", "--yes"]),
            ("history", ["history", "--db", "app.db"]), ("prune", ["prune", "--db", "app.db", "--policy", "keep.toml", "--dry-run"]),
            ("diff", ["diff", id, "--db", "app.db"]), ("journal", ["journal", "--db", "app.db"]),
            ("restore", ["restore", id, "--db", "app.db", "--to", "copy.db"]), ("policy-check", ["policy", "check", "keep.toml"]),
            ("pin", ["pin", id, "--db", "app.db"]), ("unpin", ["unpin", id, "--db", "app.db"]),
        ]
        for (schema, arguments) in commands {
            let result = try backstop(arguments + ["--json"])
            XCTAssertEqual(result.status, 0, "\(arguments): \(result.stderr)")
            _ = try document(result, schema: schema)
        }
        // Errors too.
        let missing = try backstop(["show", "20000101T000000000Z", "--db", "app.db", "--json"])
        XCTAssertEqual(missing.status, 3)
        let error = try document(missing, schema: "error")
        XCTAssertEqual(error["exit_status"] as? Int, 3)
    }

    // MARK: - Next steps that work as printed

    /// Runs a `backstop ...` command line printed by Backstop, as a user would paste it.
    func runPrinted(_ line: String) throws -> RunResult {
        XCTAssertTrue(line.hasPrefix("backstop "), line)
        return try run("/bin/sh", ["-c", BackstopTestCase.backstopPath + line.dropFirst("backstop".count)])
    }

    func printedCommand(after marker: String, in text: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let rest = try XCTUnwrap(text.components(separatedBy: marker).dropFirst().first, "no '\(marker)' in: \(text)", file: file, line: line)
        return String(rest.prefix { $0 != "\n" && $0 != ";" }).trimmingCharacters(in: .whitespaces)
    }

    func testTheRollbackThatDownSuggestsWorksAsPrintedWhenVersionsRanTogether() throws {
        try makeDatabase(rows: 10)
        try writeMigration("0001_a.sql", "CREATE TABLE a(x);\n")
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)
        try writeMigration("0002_b.sql", "CREATE TABLE b(x);\n-- backstop:down\nDROP TABLE b;\n")
        try writeMigration("0003_c.sql", "CREATE TABLE c(x);\n")
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)

        let down = try backstop(["down", "--to", "2", "--db", "app.db", "--yes"])
        XCTAssertEqual(down.status, 6)
        let dir = path("migrations"), db = path("app.db"), store = path("app.db.backstop")
        XCTAssertEqual(down.stderr, """
            error: cannot go down to 2: 0003_c.sql (no down section); nothing was changed
            hint: restore is the primary way back, to version 1 (no snapshot was taken at 2): backstop rollback --to 1 --yes --db \(db) --store \(store) --dir \(dir); then forward to 2: backstop migrate --to 2 --yes --db \(db) --dir \(dir)

            """)
        let rollback = try runPrinted(try printedCommand(after: "(no snapshot was taken at 2): ", in: down.stderr))
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        let forward = try runPrinted(try printedCommand(after: "then forward to 2: ", in: down.stderr))
        XCTAssertEqual(forward.status, 0, forward.stderr)
        let live = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try live.int("SELECT max(version) FROM backstop_migrations"), 2)
        XCTAssertTrue(try live.tableExists("b"))
        XCTAssertFalse(try live.tableExists("c"))
    }

    func testTheUndoOfARestoreAndOfAMigrationWorkAsPrintedUnderAGuard() throws {
        let db = try makeDatabase(rows: 10)
        try execute(db, "CREATE TABLE sessions(id INTEGER PRIMARY KEY, status TEXT); INSERT INTO sessions(status) VALUES ('running')")
        try writeMigration("guard.sql", "SELECT id FROM sessions WHERE status = 'running';\n")
        try writeMigration("0001_note.sql", "ALTER TABLE items ADD COLUMN note TEXT;\n")
        // A session runs: the operator decides to go ahead anyway.
        let migrate = try backstop(["migrate", "--db", "app.db", "--yes", "--ignore-guard"])
        XCTAssertEqual(migrate.status, 0, migrate.stderr)
        let undoMigration = try printedCommand(after: "undo this run with: ", in: migrate.stdout)
        XCTAssertTrue(undoMigration.contains("--ignore-guard"), undoMigration)
        XCTAssertTrue(undoMigration.contains("--yes"), undoMigration)

        let taken = try takeSnapshot()
        try execute(db, "DELETE FROM items")
        let restore = try backstop(["restore", taken, "--db", "app.db", "--yes", "--ignore-guard"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try count(db), 10)
        let undoRestore = try printedCommand(after: "undo with: ", in: restore.stdout)
        let undone = try runPrinted(undoRestore)
        XCTAssertEqual(undone.status, 0, undone.stderr)
        XCTAssertEqual(try count(db), 0, "the undo brought back the state the restore replaced")
        let rolledBack = try runPrinted(undoMigration)
        XCTAssertEqual(rolledBack.status, 0, rolledBack.stderr)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).int("SELECT count(*) FROM pragma_table_info('items') WHERE name = 'note'"), 0)
    }

    // MARK: - recover

    func testRecoverRefusesUnknownSetTargetsAndTellsNoMatchFromAlreadyPresent() throws {
        let db = try makeDatabase(rows: 10)
        let id = try takeSnapshot()
        try execute(db, "DELETE FROM items WHERE id = 2")
        let table = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 2", "--set", "nosuchtable.x=2", "--yes"])
        XCTAssertEqual(table.status, 2)
        XCTAssertEqual(table.stderr, "error: the value given for nosuchtable.x: the live database has no table 'nosuchtable'\n")
        let column = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 2", "--set", "nmae=x", "--yes"])
        XCTAssertEqual(column.status, 2)
        XCTAssertEqual(column.stderr, "error: the value given for nmae: no live table has a column 'nmae'\n")
        let none = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 99", "--yes"])
        XCTAssertEqual(none.status, 3)
        XCTAssertEqual(none.stdout, "No row of items in snapshot \(id) matches the condition; nothing was changed.\n")
        let present = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 1", "--yes"])
        XCTAssertEqual(present.status, 0)
        XCTAssertEqual(present.stdout, "Nothing to recover: every row of items matching the condition (1) is present in the live database; nothing was changed.\n")
        // Table names match as SQLite matches them: without regard to case.
        let recovered = try backstop(["recover", id, "--db", "app.db", "--table", "ITEMS", "--where", "id = 2", "--yes", "-q"])
        XCTAssertEqual(recovered.status, 0, recovered.stderr)
        XCTAssertEqual(try count(db), 10)
    }

    func testRecoverRunsTheAppliedMigrationsVerifyQueriesAndShowsTheirResult() throws {
        let db = try makeDatabase(rows: 10)
        // 0001 guarantees that no item is named 'legacy' once it has run.
        try writeMigration("0001_no_legacy.sql", "UPDATE items SET name = 'item' WHERE name = 'legacy';\n-- backstop:verify\nSELECT id, name FROM items WHERE name = 'legacy';\n")
        try execute(db, "UPDATE items SET name = 'legacy' WHERE id = 3")
        let id = try takeSnapshot()   // taken before the migration: item 3 is still 'legacy' in it
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)
        try execute(db, "DELETE FROM items WHERE id = 3")
        let dryRun = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 3", "--dry-run"])
        XCTAssertEqual(dryRun.status, 0, dryRun.stdout + dryRun.stderr)
        XCTAssertEqual(dryRun.stderr, """
            warning: 1 of 1 verify query of the applied migrations returns rows with these rows in place: the recovered rows break what that migration guarantees
              0001_no_legacy line 3: SELECT id, name FROM items WHERE name = 'legacy';
                id=3, name='legacy'

            """)
        XCTAssertEqual(try count(db), 9)
        let json = try document(backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 3", "--dry-run", "--json"]), schema: "recover")
        XCTAssertEqual((json["check_failures"] as? [Any])?.count, 1, "\(json)")
        // With the guarantee kept by --set, the same recover passes the checks and says so.
        let kept = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id = 3", "--set", "name=item", "--yes"])
        XCTAssertEqual(kept.status, 0, kept.stdout + kept.stderr)
        XCTAssertTrue(kept.stdout.hasSuffix("Postconditions hold: 1 verify query of the applied migrations returns no rows with these rows in place.\n"), kept.stdout)
        XCTAssertEqual(try count(db), 10)
    }

    // MARK: - Records an operator can audit

    func testRepairAcceptsAnEditedMigrationOnceAndTheJournalRecordsEveryChange() throws {
        let db = try makeDatabase(rows: 10)
        try writeMigration("0001_a.sql", "CREATE TABLE a(x);\n")
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)
        try writeMigration("0001_a.sql", "CREATE TABLE a(x); -- reviewed\n")
        XCTAssertEqual(try backstop(["check", "--db", "app.db"]).status, 7)
        let repair = try backstop(["repair", "--db", "app.db"])
        XCTAssertEqual(repair.status, 0, repair.stderr)
        XCTAssertTrue(repair.stdout.hasPrefix("Accepted the edits of 1 applied migration (nothing was run):\n  0001_a: checksum "), repair.stdout)
        XCTAssertEqual(try backstop(["check", "--db", "app.db", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["repair", "--db", "app.db"]).stdout, "Nothing to repair: every applied migration's file matches its recorded checksum.\n")
        let history = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try history.rows("SELECT previous_checksums FROM backstop_migrations").first?.first?.string?.isEmpty, false)

        // Everything that changed the database is in the journal, with who and which snapshots.
        let id = try takeSnapshot()
        try execute(db, "DELETE FROM items WHERE id > 5")
        XCTAssertEqual(try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id > 5", "--yes", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["restore", id, "--db", "app.db", "--yes", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["rollback", "--db", "app.db", "--yes", "-q"]).status, 0)
        let journal = try document(backstop(["journal", "--db", "app.db", "--json"]), schema: "journal")
        let entries = journal["entries"] as! [[String: Any]]
        XCTAssertEqual(entries.map { $0["action"] as? String }, ["migrate", "repair", "snapshot", "recover", "restore", "rollback"])
        let user = String(cString: getpwuid(geteuid())!.pointee.pw_name)
        XCTAssertEqual(Set(entries.map { $0["user"] as? String }), [user])
        XCTAssertEqual(entries[3]["snapshot"] as? String, id)
        XCTAssertNotNil(entries[3]["safety_snapshot"] as? String, "the pre-recover snapshot")
        XCTAssertNotNil(entries[4]["safety_snapshot"] as? String, "the pre-restore snapshot")
        // What the rollback undid stays on record, although the restored history no longer has it.
        XCTAssertTrue((entries[5]["details"] as? String ?? "").hasPrefix("undid the run that applied 1: restored the state of "), "\(entries[5])")
        XCTAssertEqual(entries[0]["details"] as? String, "version none -> 1: 0001_a")
        let human = try backstop(["journal", "--db", "app.db"])
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertTrue(human.stdout.hasPrefix("TIME (UTC)           ACTION    BY"), human.stdout)
    }

    // MARK: - Terminal and small things

    func testSmallThingsAnOperatorNotices() throws {
        try makeDatabase(rows: 10)
        // The parser's errors look like Backstop's.
        let unknown = try backstop(["snapshot", "--nope"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.hasPrefix("error: Unknown option '--nope'"), unknown.stderr)
        // show prints pinned as yes/no.
        let id = try takeSnapshot()
        let shown = try backstop(["show", id, "--db", "app.db"]).stdout.split(separator: "\n")
        XCTAssertEqual(shown.first { $0.hasPrefix("pinned ") }.map { $0.split(separator: " ") }, ["pinned", "no"])
        // An ambiguous prefix lists every match.
        let second = try takeSnapshot()
        let prefix = String(zip(id, second).prefix { $0 == $1 }.map(\.0))
        let ambiguous = try backstop(["show", prefix, "--db", "app.db"])
        XCTAssertEqual(ambiguous.status, 2)
        XCTAssertTrue(ambiguous.stderr.hasPrefix("error: '\(prefix)' matches 2 snapshots: \(id), \(second)\n"), ambiguous.stderr)
        // policy explain takes the same times as restore --at.
        try "keep_last = 1\n".write(toFile: path("keep.toml"), atomically: true, encoding: .utf8)
        try "2026-11-20T10:00:00Z\n2026-11-21T10:00:00Z\n".write(toFile: path("times.txt"), atomically: true, encoding: .utf8)
        for time in ["2026-11-22 10:00", "2026-11-22T10:00:00Z", "2h ago", "now"] {
            let explain = try backstop(["policy", "explain", "keep.toml", "--input", "times.txt", "--now", time])
            XCTAssertEqual(explain.status, 0, "\(time): \(explain.stderr)")
        }
        // The load generator explains itself.
        let loadgen = try run(BackstopTestCase.loadgenPath, ["--help"])
        XCTAssertEqual(loadgen.status, 0)
        XCTAssertTrue(loadgen.stdout.contains("usage: backstop-loadgen"), loadgen.stdout)
    }
}
