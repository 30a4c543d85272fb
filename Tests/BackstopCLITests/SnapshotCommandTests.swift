import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// `backstop snapshot | list | show | verify | restore`, run as a user would run them.
final class SnapshotCommandTests: BackstopTestCase {
    func testSnapshotPrintsItsIDAndJSONPrintsTheSameManifestAsListAndShow() throws {
        try makeDatabase(rows: 200)
        let human = try backstop(["snapshot", "--db", "app.db", "--label", "first"])
        XCTAssertEqual(human.status, 0, human.stderr)
        let id = human.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(Manifest.isValidID(id), id)

        let result = try document(backstop(["snapshot", "--db", "app.db", "--json"]), schema: "snapshot")
        XCTAssertEqual(result["outcome"] as? String, "created")
        XCTAssertEqual(result["database"] as? String, path("app.db"))
        let created = result["snapshot"] as! [String: Any]
        XCTAssertEqual(created["kind"] as? String, "manual")
        XCTAssertEqual(created["database"] as? String, path("app.db"))
        let listed = try self.listed(["--db", "app.db"])
        XCTAssertEqual(listed.map { $0["id"] as! String }, [id, created["id"] as! String])
        XCTAssertEqual(NSDictionary(dictionary: listed[1]), NSDictionary(dictionary: created))
        let shown = try document(backstop(["show", created["id"] as! String, "--db", "app.db", "--json"]), schema: "show")["snapshot"] as! [String: Any]
        XCTAssertEqual(NSDictionary(dictionary: shown), NSDictionary(dictionary: created))
        XCTAssertEqual(listed[0]["label"] as? String, "first")

        let table = try backstop(["list", "--db", "app.db"])
        XCTAssertEqual(table.status, 0)
        XCTAssertTrue(table.stdout.contains(id))
        XCTAssertTrue(table.stdout.contains("first"))
        XCTAssertTrue(table.stdout.contains("CREATED (UTC)"))
    }

    func testQuietPrintsNothingOnSuccessAndIfChangedStoresNothingTwice() throws {
        try makeDatabase(rows: 50)
        let first = try backstop(["snapshot", "--db", "app.db", "--quiet", "--if-changed"])
        XCTAssertEqual(first.status, 0)
        XCTAssertEqual(first.stdout + first.stderr, "")
        let second = try backstop(["snapshot", "--db", "app.db", "--quiet", "--if-changed"])
        XCTAssertEqual(second.status, 0)
        XCTAssertEqual(second.stdout + second.stderr, "")
        let third = try backstop(["snapshot", "--db", "app.db", "--if-changed"])
        XCTAssertEqual(third.status, 0)
        XCTAssertTrue(third.stderr.contains("unchanged since snapshot"), third.stderr)
        XCTAssertEqual(try listed(["--db", "app.db"]).count, 1)
    }

    func testExitStatusesFollowTheDocumentedTable() throws {
        try makeDatabase(rows: 50)
        // usage
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "--level", "99"]).status, 2)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--latest", "--at", "2h"]).status, 2)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--at", "next tuesday", "--yes"]).status, 3, "no store yet")
        XCTAssertEqual(try backstop(["snapshot"]).status, 2)
        // failure: not a database, nothing created
        let missing = try backstop(["snapshot", "--db", "missing.db"])
        XCTAssertEqual(missing.status, 1)
        XCTAssertTrue(missing.stderr.contains("missing.db is not an SQLite database: no such file. Nothing was created or changed."), missing.stderr)
        XCTAssertFalse(FileSystem.exists(path("missing.db")))

        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--at", "next tuesday", "--yes"]).status, 2)
        // not found
        XCTAssertEqual(try backstop(["restore", "20990101T000000000Z", "--db", "app.db", "--yes"]).status, 3)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--at", "2000-01-01T00:00:00Z", "--yes"]).status, 3)
        // refused: live restore without --yes when stdin is not a terminal
        try execute(path("app.db"), "DELETE FROM items")
        let refused = try backstop(["restore", "--db", "app.db", "--latest"])
        XCTAssertEqual(refused.status, 6)
        XCTAssertTrue(refused.stderr.contains("add --yes"), refused.stderr)
        XCTAssertEqual(try count(path("app.db")), 0)
        // verification failed
        let store = try SnapshotStore(path: path("app.db.backstop"), create: false)
        let manifest = try store.scan().snapshots[0]
        XCTAssertEqual(truncate(store.dataPath(manifest), 10), 0)
        let verify = try backstop(["verify", "--db", "app.db"])
        XCTAssertEqual(verify.status, 4)
        XCTAssertTrue(verify.stdout.contains("FAILED  \(manifest.id)  the file is truncated"), verify.stdout)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--latest", "--yes"]).status, 4)
        XCTAssertEqual(try count(path("app.db")), 0)
        // JSON errors for scripts
        let jsonError = try json(backstop(["restore", "--db", "app.db", "--latest", "--yes", "--json"])) as! [String: Any]
        XCTAssertEqual(jsonError["exit_status"] as? Int, 4)
    }

    func testHelpEndsWithTheExitStatusTable() throws {
        for command in [["--help"], ["snapshot", "--help"], ["restore", "--help"], ["verify", "--help"]] {
            let help = try backstop(command)
            XCTAssertEqual(help.status, 0)
            XCTAssertTrue(help.stdout.contains("EXIT STATUS"), command.joined(separator: " "))
            XCTAssertTrue(help.stdout.contains("5  locked by another run or connection"), command.joined(separator: " "))
        }
    }

    func testRestoreByTimeIntoTheLiveDatabaseSaysWhichSnapshotItPicked() throws {
        try makeDatabase(rows: 100)
        let first = try takeSnapshot()
        try execute(path("app.db"), "DELETE FROM items WHERE id > 10")
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        let firstTime = try XCTUnwrap(Timestamp.parseRFC3339(try SnapshotStore(path: path("app.db.backstop"), create: false).snapshot(id: first).createdAt))

        let restore = try backstop(["restore", "--db", "app.db", "--at", Timestamp.rfc3339(firstTime.addingTimeInterval(0.001)), "--yes"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertTrue(restore.stderr.contains("picked the snapshot current at"), restore.stderr)
        XCTAssertTrue(restore.stderr.contains(first), restore.stderr)
        XCTAssertTrue(restore.stdout.contains("undo with: backstop restore "), restore.stdout)
        XCTAssertEqual(try count(path("app.db")), 100)
        let kinds = try listed(["--db", "app.db"]).map { $0["kind"] as! String }
        XCTAssertEqual(kinds, ["manual", "manual", "pre-restore"])
    }

    func testRestoreToAFileRefusesAnExistingFileUnlessForced() throws {
        try makeDatabase(rows: 100)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--latest", "--to", "copy.db"]).status, 0)
        XCTAssertEqual(try count(path("copy.db")), 100)
        let again = try backstop(["restore", "--db", "app.db", "--latest", "--to", "copy.db"])
        XCTAssertEqual(again.status, 6)
        XCTAssertTrue(again.stderr.contains("already exists; nothing was changed"), again.stderr)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--latest", "--to", "copy.db", "--force"]).status, 0)
    }

    func testRestoreToAFileOfAWALDatabaseLeavesNoSideFilesBehind() throws {
        try makeDatabase(rows: 100, journalMode: "wal")
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["restore", "--db", "app.db", "--latest", "--to", "copy.db"]).status, 0)
        // Checking the file where it lies must not leave the -wal and -shm a read-only connection makes.
        XCTAssertFalse(FileSystem.exists(path("copy.db-wal")))
        XCTAssertFalse(FileSystem.exists(path("copy.db-shm")))
        // and the file is still exactly the snapshot's image.
        let digest = try run("/usr/bin/sha256sum", [path("copy.db")])
        XCTAssertEqual(String(digest.stdout.prefix(64)), try listed(["--db", "app.db"])[0]["sha256"] as? String)
        // So removing the copy and restoring again just works.
        try FileManager.default.removeItem(atPath: path("copy.db"))
        let again = try backstop(["restore", "--db", "app.db", "--latest", "--to", "copy.db"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try count(path("copy.db")), 100)
    }

    func testConfigurationFileAndEnvironmentChooseTheDatabase() throws {
        try makeDatabase("main.db", rows: 10)
        try makeDatabase("accounts.db", rows: 20)
        try Data("""
        db = "main.db"
        store = "backups/main"
        [databases.accounts]
        db = "accounts.db"
        store = "backups/accounts"
        """.utf8).write(to: URL(fileURLWithPath: path("backstop.toml")))
        try FileManager.default.createDirectory(atPath: path("backups"), withIntermediateDirectories: true)
        XCTAssertEqual(try backstop(["snapshot", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["snapshot", "--database", "accounts", "-q"]).status, 0)
        let main = try listed()
        XCTAssertEqual(main.map { $0["database"] as! String }, [path("main.db")])
        let accounts = try listed(["--database", "accounts"])
        XCTAssertEqual(accounts.map { $0["database"] as! String }, [path("accounts.db")])
        let unknown = try backstop(["list", "--database", "payroll"])
        XCTAssertEqual(unknown.status, 2)
        XCTAssertTrue(unknown.stderr.contains("no database named 'payroll'"), unknown.stderr)

        // The environment overrides the file; the store then follows the database.
        XCTAssertEqual(try backstop(["snapshot", "-q"], environment: ["BACKSTOP_DB": path("accounts.db")]).status, 0)
        XCTAssertTrue(FileSystem.isDirectory(path("accounts.db.backstop")))
    }

    func testAStoreLockedByAnotherRunMakesTheCommandWaitThenExitLocked() throws {
        try makeDatabase(rows: 10)
        let store = try SnapshotStore(path: path("app.db.backstop"), create: true)
        let held = try store.lock(.exclusive, wait: 0)
        let started = Date()
        let result = try backstop(["snapshot", "--db", "app.db", "--lock-wait", "1"])
        XCTAssertEqual(result.status, 5)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 1)
        XCTAssertTrue(result.stderr.hasPrefix("error: the snapshot store \(path("app.db.backstop")) is locked by another Backstop run (pid \(getpid()), "), result.stderr)
        XCTAssertTrue(result.stderr.contains("; waited 1s, nothing was changed\nhint: wait for the other run to finish, or raise --lock-wait\n"), result.stderr)
        held.release()
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
    }

    func testALockLeftByAKilledProcessIsTakenOverWithAMessage() throws {
        try makeDatabase(rows: 10)
        let store = try SnapshotStore(path: path("app.db.backstop"), create: true)
        // A record of an exclusive holder whose process is gone.
        let dead = try start("/bin/true", [])
        dead.waitUntilExit()
        try Data("pid=\(dead.processIdentifier)\ncommand=backstop prune\nsince=2026-11-22T03:00:00.000Z\n".utf8)
            .write(to: URL(fileURLWithPath: store.lockPath))
        let result = try backstop(["snapshot", "--db", "app.db", "--lock-wait", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("took over the lock"), result.stderr)
        XCTAssertTrue(result.stderr.contains("process \(dead.processIdentifier) (backstop prune)"), result.stderr)
    }
}
