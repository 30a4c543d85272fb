import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// The right snapshot whatever the clock did: order comes from the store's sequence and the history's
/// own order, never from wall-clock dates. The wrong clock is real: libfaketime shifts the binary's time.
final class ClockTests: BackstopTestCase {
    /// Runs `backstop` with its clock shifted by `offset` ("+30 days"), through faketime(1).
    func backstop(clock offset: String, _ arguments: [String]) throws -> RunResult {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime") else {
            XCTFail("faketime is missing: 'make test' installs it")
            throw XCTSkip("no faketime")
        }
        return try run("/usr/bin/faketime", [offset, Self.backstopPath] + arguments)
    }

    func snapshot(clock offset: String? = nil) throws -> String {
        let arguments = ["snapshot", "--db", "app.db"]
        let result = try offset.map { try backstop(clock: $0, arguments) } ?? backstop(arguments)
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func testASnapshotTakenWhileTheClockRanFastNeverStaysLatest() throws {
        let db = try makeDatabase(rows: 10)
        let fast = try snapshot(clock: "+30 days")
        let created = try XCTUnwrap(Timestamp.parseRFC3339(try XCTUnwrap(listed(["--db", "app.db"]).first?["created_at"] as? String)))
        XCTAssertGreaterThan(created.timeIntervalSinceNow, 29 * 86_400, "the shifted clock did not reach the binary")
        try execute(db, "INSERT INTO items(name) VALUES ('after the clock was fixed')")
        let current = try snapshot()

        let latest = try backstop(["restore", "--latest", "--db", "app.db", "--to", "latest.db"])
        XCTAssertEqual(latest.status, 0, latest.stderr)
        XCTAssertTrue(latest.stdout.hasPrefix("restored snapshot \(current) "), latest.stdout)
        XCTAssertEqual(try count(path("latest.db")), 11)

        let now = Timestamp.rfc3339(Date())
        let at = try backstop(["restore", "--at", now, "--db", "app.db", "--to", "at.db", "-q"])
        XCTAssertEqual(at.status, 0, at.stderr)
        XCTAssertEqual(try count(path("at.db")), 11)

        // Flagged wherever it is shown.
        let list = try backstop(["list", "--db", "app.db"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains(" (future)"), list.stdout)
        XCTAssertTrue(list.stderr.contains("warning: 1 snapshot is dated in the future (\(fast)): the clock of the machine that took it was wrong; --latest and rollback go by the order snapshots were taken, not by their dates"), list.stderr)
        let rows = try listed(["--db", "app.db"])
        XCTAssertEqual(rows.map { $0["id"] as? String }, [fast, current], "list is in the order snapshots were taken")
        XCTAssertEqual(rows.map { $0["future_dated"] as? Bool }, [true, false])
        let show = try backstop(["show", fast, "--db", "app.db"])
        XCTAssertEqual(show.status, 0, show.stderr)
        XCTAssertTrue(show.stdout.contains("(in the future: the clock was wrong)"), show.stdout)
    }

    func testASnapshotTakenWhileTheClockRanSlowIsStillLatest() throws {
        let db = try makeDatabase(rows: 10)
        _ = try snapshot()
        try execute(db, "INSERT INTO items(name) VALUES ('newest state')")
        let slow = try snapshot(clock: "-30 days")
        let latest = try backstop(["restore", "--latest", "--db", "app.db", "--to", "latest.db"])
        XCTAssertEqual(latest.status, 0, latest.stderr)
        XCTAssertTrue(latest.stdout.hasPrefix("restored snapshot \(slow) "), latest.stdout)
        XCTAssertEqual(try count(path("latest.db")), 11)
    }

    func testRollbackUndoesTheLastRunByTheHistoryOrderNotByItsClock() throws {
        try makeDatabase(rows: 10)
        try writeMigration("0001_first.sql", "CREATE TABLE first_run(x);\n")
        XCTAssertEqual(try backstop(["migrate", "--db", "app.db", "--yes", "-q"]).status, 0)
        try writeMigration("0002_second.sql", "CREATE TABLE second_run(x);\n")
        // The second run's clock is 30 days slow: its applied_at is older than the first run's.
        let second = try backstop(clock: "-30 days", ["migrate", "--db", "app.db", "--yes", "-q"])
        XCTAssertEqual(second.status, 0, second.stderr)
        let history = try Database(path: path("app.db"), mode: .readOnly)
        let dates = try history.rows("SELECT applied_at FROM backstop_migrations ORDER BY version").map { $0[0].string ?? "" }
        XCTAssertEqual(dates.count, 2)
        XCTAssertGreaterThan(dates[0], dates[1], "the second run's clock was not slow")

        let rollback = try backstop(["rollback", "--db", "app.db", "--yes"])
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertTrue(rollback.stderr.contains("taken before the run that applied 2"), rollback.stderr)
        let after = try Database(path: path("app.db"), mode: .readOnly)
        XCTAssertTrue(try after.tableExists("first_run"))
        XCTAssertFalse(try after.tableExists("second_run"))
        XCTAssertEqual(try after.int("SELECT max(version) FROM backstop_migrations"), 1)
    }

    func testRestoreLatestTwiceDoesNotUndoItself() throws {
        let db = try makeDatabase(rows: 10)
        let wanted = try snapshot()
        try execute(db, "DELETE FROM items WHERE id > 3")
        for attempt in 1...2 {
            let restore = try backstop(["restore", "--latest", "--db", "app.db", "--yes"])
            XCTAssertEqual(restore.status, 0, "attempt \(attempt): " + restore.stderr)
            XCTAssertTrue(restore.stderr.contains("picked the newest snapshot, \(wanted) "), "attempt \(attempt): " + restore.stderr)
            XCTAssertEqual(try count(db), 10, "attempt \(attempt)")
        }
        // The safety snapshots are there, and picked only when asked for by kind.
        let kinds = try listed(["--db", "app.db"]).map { $0["kind"] as? String }
        XCTAssertEqual(kinds, ["manual", "pre-restore", "pre-restore"])
        let undo = try backstop(["restore", "--latest", "--kind", "pre-restore", "--db", "app.db", "--to", "undo.db", "-q"])
        XCTAssertEqual(undo.status, 0, undo.stderr)
        XCTAssertEqual(try count(path("undo.db")), 10, "the newest pre-restore snapshot holds the state the second restore replaced")
    }
}
