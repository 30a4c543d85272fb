import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// The application keeps working while Backstop does: readers are never turned away, a database in use
/// is never replaced under it, and what a crashed application left does not stop the hourly snapshot.
final class AvailabilityTests: BackstopTestCase {
    func snapshot(_ db: String = "app.db") throws -> String {
        let result = try backstop(["snapshot", "--db", db])
        XCTAssertEqual(result.status, 0, result.stderr)
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs the application's readers (a read every 50 ms, each giving up after 200 ms) for `seconds`;
    /// returns how many reads succeeded and failed.
    func readers(_ db: String, seconds: Double) throws -> (reads: Int, failures: Int) {
        let result = try run(BackstopTestCase.loadgenPath, ["readers", db, String(seconds), "0.05", "0.2"])
        XCTAssertEqual(result.status, 0, result.stderr)
        let words = result.stdout.split(whereSeparator: \.isWhitespace)
        guard words.count == 4, let reads = Int(words[1]), let failures = Int(words[3]) else {
            XCTFail("unexpected readers output: \(result.stdout)")
            return (0, -1)
        }
        return (reads, failures)
    }

    func testALiveRestoreInRollbackJournalModeNeverTurnsNewReadersAwayWhileALongReaderIsActive() throws {
        let db = try makeDatabase(rows: 20_000, journalMode: "delete")
        _ = try snapshot()
        try execute(db, "DELETE FROM items WHERE id > 100")
        let digest = try contentDigest(db)
        // A long reader that never finishes: the restore cannot get its exclusive lock.
        let longReader = try hold(db, "read")
        let restore = try spawnBackstop(["restore", "--latest", "--db", "app.db", "--yes", "--lock-wait", "3"])
        let (reads, failures) = try readers(db, seconds: 4)
        XCTAssertEqual(failures, 0, "new readers were turned away while the restore waited")
        XCTAssertGreaterThan(reads, 10)
        let ended = restore.wait()
        XCTAssertEqual(ended.status, 5, restore.stderr)
        XCTAssertTrue(restore.stderr.contains("error: the database \(db) is locked by another connection reading or writing it (open in pid \(longReader.pid) (backstop-loadgen)); waited 3s, nothing was changed\nhint: wait for the other run to finish, or raise --lock-wait\n"), restore.stderr)
        XCTAssertEqual(try contentDigest(db), digest, "a restore that gave up changed nothing")
        longReader.release()

        // A reader that finishes while the restore waits lets it through.
        let shortReader = try hold(db, "read")
        let second = try spawnBackstop(["restore", "--latest", "--db", "app.db", "--yes", "--lock-wait", "20"])
        let during = try readers(db, seconds: 1)
        XCTAssertEqual(during.failures, 0)
        shortReader.release()
        XCTAssertEqual(second.wait().status, 0, second.stderr)
        XCTAssertEqual(try count(db), 20_000)
    }

    func testRestoreToForceRefusesADatabaseAnotherProcessHasOpenAndKeepsOwnerGroupAndMode() throws {
        try makeDatabase(rows: 1000)
        let id = try snapshot()
        try makeDatabase("target.db", rows: 5)
        let target = path("target.db")
        XCTAssertEqual(chmod(target, 0o664), 0)
        let app = try hold(target, "open")
        let refused = try backstop(["restore", id, "--db", "app.db", "--to", "target.db", "--force"])
        XCTAssertEqual(refused.status, 6, refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("error: \(target) is in use (pid \(app.pid) (backstop-loadgen)): replacing the file would leave that process writing a deleted copy; nothing was changed\nhint: stop it first, or restore to another path\n"),
                      refused.stderr)
        XCTAssertEqual(try count(target), 5)
        app.release()

        // Owned by another user (the application's), with its mode: both kept.
        guard geteuid() == 0 else { throw XCTSkip("changing owners needs root") }
        let nobody = try XCTUnwrap(getpwnam("nobody")).pointee
        XCTAssertEqual(chown(target, nobody.pw_uid, nobody.pw_gid), 0)
        let replaced = try backstop(["restore", id, "--db", "app.db", "--to", "target.db", "--force", "-q"])
        XCTAssertEqual(replaced.status, 0, replaced.stderr)
        var info = stat()
        XCTAssertEqual(stat(target, &info), 0)
        XCTAssertEqual(info.st_uid, nobody.pw_uid)
        XCTAssertEqual(info.st_gid, nobody.pw_gid)
        XCTAssertEqual(info.st_mode & 0o7777, 0o664)
        XCTAssertEqual(try count(target), 1000)
    }

    func testAHotJournalLeftByACrashedAppDoesNotStopSnapshotsOrStatus() throws {
        let db = try makeDatabase(rows: 2000, journalMode: "delete")
        try writeMigration("0001_t.sql", "CREATE TABLE t(x);\n")
        let crash = try run(BackstopTestCase.loadgenPath, ["crash-mid-write", db])
        XCTAssertEqual(crash.signal, SIGKILL, "the app did not die mid-transaction: \(crash.stderr)")
        XCTAssertTrue(FileSystem.exists(db + "-journal"), "no hot journal was left")
        let taken = try backstop(["snapshot", "--db", "app.db"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let status = try backstop(["status", "--db", "app.db"])
        XCTAssertEqual(status.status, 0, status.stderr)
        // The snapshot holds the state before the crashed transaction, which SQLite rolled back.
        let restored = try backstop(["restore", "--latest", "--db", "app.db", "--to", "copy.db", "-q"])
        XCTAssertEqual(restored.status, 0, restored.stderr)
        XCTAssertEqual(try count(path("copy.db")), 2000)
        XCTAssertEqual(try count(db), 2000)
    }

    func testMigrateWhileTheAppHoldsAWriteTransactionGivesUpWithTheLockedStatusAndChangesNothing() throws {
        let db = try makeDatabase(rows: 100)
        try writeMigration("0001_note.sql", "ALTER TABLE items ADD COLUMN note TEXT;\n")
        let digest = try contentDigest(db)
        let writer = try hold(db, "write")
        let migrate = try backstop(["migrate", "--db", "app.db", "--yes", "--lock-wait", "1"])
        XCTAssertEqual(migrate.status, 5, migrate.stderr)
        XCTAssertTrue(migrate.stderr.contains("error: the database \(db) is locked by another connection writing to it (open in pid \(writer.pid) (backstop-loadgen)); waited 1s, nothing was changed\n"), migrate.stderr)
        XCTAssertTrue(migrate.stderr.contains("hint: wait for the other run to finish, or raise --lock-wait"), migrate.stderr)
        writer.release()
        XCTAssertEqual(try contentDigest(db), digest)
        let applied = try backstop(["migrate", "--db", "app.db", "--yes", "-q"])
        XCTAssertEqual(applied.status, 0, applied.stderr)
    }
}
