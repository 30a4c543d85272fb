import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Snapshots of a database that another process keeps writing to.
final class OnlineSnapshotTests: BackstopTestCase {
    func snapshotsWhileAnotherProcessCommits(journalMode: String) throws {
        let db = try makeDatabase(rows: 20_000, journalMode: journalMode)   // a few MiB: each copy takes a while
        try execute(db, "CREATE TABLE load(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, payload TEXT NOT NULL)")
        let store = try SnapshotStore(path: path("store"), create: true)

        // The writer commits one row per transaction, a few hundred times a second, for 4 seconds.
        let writer = try start(BackstopTestCase.loadgenPath, ["writer", db, "4", "400"])
        let out = writer.standardOutput as! Pipe
        let ready = out.fileHandleForReading.availableData
        XCTAssertEqual(String(decoding: ready, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), "ready")

        var manifests: [Manifest] = []
        var options = SnapshotOptions()
        options.level = 1
        while writer.isRunning && manifests.count < 12 {
            manifests.append(try Snapshotter.take(database: db, store: store, options: options).manifest)
        }
        writer.waitUntilExit()
        let writerErrors = String(decoding: (writer.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(writer.terminationStatus, 0, "the writer saw an error: \(writerErrors)")
        let finalCount = try count(db, "load")
        XCTAssertGreaterThan(finalCount, 50, "the writer committed too little to overlap the snapshots")
        XCTAssertGreaterThanOrEqual(manifests.count, 2)

        // Every snapshot is a committed state: rows 1...n with no gaps, and a sound database.
        var previous: Int64 = 0
        for manifest in manifests {
            XCTAssertTrue(Verifier.verify(manifest, in: store, deep: true).ok)
            let copy = path("check-\(manifest.id).db")
            _ = try Restorer.restoreToFile(manifest, store: store, path: copy, force: false)
            let image = try Database(path: copy, mode: .readOnly)
            let rows = try image.int("SELECT count(*) FROM load")
            XCTAssertEqual(try image.int("SELECT coalesce(max(id), 0) FROM load"), rows)
            XCTAssertEqual(try image.int("SELECT count(*) FROM load WHERE n != id"), 0)
            XCTAssertEqual(try image.int("SELECT count(*) FROM items"), 20_000)
            XCTAssertGreaterThanOrEqual(rows, previous)
            XCTAssertLessThanOrEqual(rows, finalCount)
            previous = rows
        }
        XCTAssertGreaterThan(previous, 0)
    }

    func testSnapshotCompletesWhileAnotherProcessCommitsInWALMode() throws {
        try snapshotsWhileAnotherProcessCommits(journalMode: "wal")
    }

    func testSnapshotCompletesWhileAnotherProcessCommitsInRollbackJournalMode() throws {
        try snapshotsWhileAnotherProcessCommits(journalMode: "delete")
    }
}

/// A live restore while another process keeps writing loses no committed write: each is either in the
/// pre-restore snapshot (so the restore can be undone with it) or in the database after the restore.
final class OnlineRestoreTests: BackstopTestCase {
    func testNoWriteFallsBetweenThePreRestoreSnapshotAndTheRestoreInWALMode() throws {
        try restoreWhileAnotherProcessCommits(journalMode: "wal")
    }

    func testNoWriteFallsBetweenThePreRestoreSnapshotAndTheRestoreInRollbackJournalMode() throws {
        try restoreWhileAnotherProcessCommits(journalMode: "delete")
    }

    func restoreWhileAnotherProcessCommits(journalMode: String) throws {
        let db = try makeDatabase(rows: 30_000, journalMode: journalMode)
        try execute(db, "CREATE TABLE load(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, payload TEXT NOT NULL)")
        let store = try SnapshotStore(path: path("store"), create: true)
        let target = try Snapshotter.take(database: db, store: store, options: SnapshotOptions()).manifest

        let writer = try start(BackstopTestCase.loadgenPath, ["writer", db, "8", "300"])
        _ = (writer.standardOutput as! Pipe).fileHandleForReading.availableData   // "ready"
        usleep(200_000)
        var options = RestoreOptions()
        options.level = 9   // a slow safety snapshot: the window the hold must cover
        let report = try Restorer.restoreLive(target, store: store, database: db, options: options)
        writer.waitUntilExit()
        let out = String(decoding: (writer.standardOutput as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: (writer.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(writer.terminationStatus, 0, "the writer saw an error: \(err)")
        let commits = try XCTUnwrap(out.split(separator: "\n").last.flatMap { Int64($0.split(separator: " ").last ?? "") })

        let pre = try XCTUnwrap(report.preRestore)
        _ = try Restorer.restoreToFile(pre, store: store, path: path("pre.db"), force: false)
        let check = try Database(path: db, mode: .readOnly)
        try check.attach(path("pre.db"), as: "pre")
        let preCount = try check.int("SELECT count(*) FROM pre.load")
        XCTAssertGreaterThan(preCount, 0, "the writer committed before the restore")
        XCTAssertGreaterThan(commits, preCount, "the writer committed after the restore too")
        let missing = try check.int("""
            WITH RECURSIVE k(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM k WHERE n < ?1)
            SELECT count(*) FROM k WHERE n NOT IN (SELECT n FROM main.load) AND n NOT IN (SELECT n FROM pre.load)
            """, [.integer(commits)])
        XCTAssertEqual(missing, 0, "commits lost between the pre-restore snapshot and the restore")
    }
}
