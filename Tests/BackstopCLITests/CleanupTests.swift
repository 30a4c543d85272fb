import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Every interruption is cleaned up: a signal makes the run remove its own temporary files, and a run
/// that was killed outright leaves files the next run removes, by a rule that never takes a live run's.
final class CleanupTests: BackstopTestCase {
    /// The names in a folder that are not the store's own bookkeeping or a committed snapshot.
    func leftovers(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path(directory)).filter { $0.hasPrefix(".tmp.") }.sorted()
    }

    func policy(keepLast: Int) throws -> String {
        let file = path("keep-\(keepLast).toml")
        try "keep_last = \(keepLast)\n".write(toFile: file, atomically: true, encoding: .utf8)
        return file
    }

    func snapshotFiles() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: path("app.db.backstop")).filter { $0.hasSuffix(".sqlite.gz") }.sorted()
    }

    /// Stops `backstop` at `point`, sends it `signal`, lets it go on, and checks that the signal ended it.
    func interrupt(_ arguments: [String], at point: String, with signal: Int32, file: StaticString = #filePath, line: UInt = #line) throws {
        let child = try backstopStopped(at: point, arguments, file: file, line: line)
        child.signal(signal)
        child.resume()
        let ended = child.wait()
        XCTAssertEqual(ended.signal, signal, "backstop \(arguments.joined(separator: " ")) was not ended by signal \(signal): \(child.stderr)",
                       file: file, line: line)
    }

    func testASignalDuringASnapshotRemovesItsTemporaryFile() throws {
        try makeDatabase(rows: 20_000)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        let before = try snapshotFiles()
        for signal in [SIGINT, SIGTERM, SIGHUP] {
            let child = try backstopStopped(at: "snapshot.mid-write", ["snapshot", "--db", "app.db"])
            XCTAssertEqual(try leftovers("app.db.backstop").count, 1, "the run has its temporary file while it writes")
            child.signal(signal)
            child.resume()
            XCTAssertEqual(child.wait().signal, signal, child.stderr)
            XCTAssertEqual(try leftovers("app.db.backstop"), [], "signal \(signal)")
            XCTAssertEqual(try snapshotFiles(), before, "signal \(signal)")
        }
    }

    func testASignalAfterTheDataFileWasCommittedRemovesItWithoutAManifest() throws {
        try makeDatabase(rows: 2000)
        try interrupt(["snapshot", "--db", "app.db"], at: "snapshot.before-manifest", with: SIGTERM)
        XCTAssertEqual(try snapshotFiles(), [])
        XCTAssertEqual(try leftovers("app.db.backstop"), [])
    }

    func testASignalDuringRestoreToRemovesTheTemporaryFileBesideTheTarget() throws {
        try makeDatabase(rows: 5000)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        mkdir(path("out"), 0o755)
        try interrupt(["restore", "--latest", "--db", "app.db", "--to", "out/copy.db"], at: "restore-to.before-rename", with: SIGINT)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("out")), ["copy.db-backstop.lock"])
    }

    func testASignalDuringTheSafetySnapshotOfALiveRestoreOrARecoverRemovesItAndChangesNothing() throws {
        let db = try makeDatabase(rows: 20_000)
        let taken = try backstop(["snapshot", "--db", "app.db"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let id = taken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try execute(db, "DELETE FROM items WHERE id > 10")
        let digest = try contentDigest(db)
        let before = try snapshotFiles()
        try interrupt(["restore", "--latest", "--db", "app.db", "--yes"], at: "snapshot.mid-write", with: SIGTERM)
        XCTAssertEqual(try leftovers("app.db.backstop"), [])
        XCTAssertEqual(try snapshotFiles(), before)
        XCTAssertEqual(try contentDigest(db), digest)
        try interrupt(["recover", id, "--db", "app.db", "--table", "items", "--where", "id > 10", "--yes"],
                      at: "snapshot.mid-write", with: SIGINT)
        XCTAssertEqual(try leftovers("app.db.backstop"), [])
        XCTAssertEqual(try snapshotFiles(), before)
        XCTAssertEqual(try contentDigest(db), digest)
        XCTAssertEqual(try count(db), 10)
    }

    func testReadersThatAreInterruptedLeaveNothingBehind() throws {
        try makeDatabase(rows: 5000)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        let files = try FileManager.default.contentsOfDirectory(atPath: path("app.db.backstop")).sorted()
        try interrupt(["verify", "--db", "app.db", "--deep"], at: "verify.before-snapshot", with: SIGINT)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("app.db.backstop")).sorted(), files)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: tmp).filter { $0.hasPrefix(".tmp.") }, [])
    }

    func testWhatAKilledRunLeftIsRemovedByTheNextRunAndALiveRunsFilesNeverAre() throws {
        try makeDatabase(rows: 20_000)
        // kill -9 while the snapshot is written: a temporary file is left.
        try backstopKilled(at: "snapshot.mid-write", ["snapshot", "--db", "app.db"])
        XCTAssertEqual(try leftovers("app.db.backstop").count, 1)
        // The next run removes it (its owner is gone) ...
        let live = try backstopStopped(at: "snapshot.mid-write", ["snapshot", "--db", "app.db"])
        XCTAssertEqual(try leftovers("app.db.backstop").count, 1)
        // ... and a live run's temporary file (stopped mid-write) is never taken for an orphan.
        let next = try backstop(["snapshot", "--db", "app.db"])
        XCTAssertEqual(next.status, 0, next.stderr)
        XCTAssertFalse(next.stderr.contains("removed"), next.stderr)
        XCTAssertEqual(try leftovers("app.db.backstop").count, 1, "the stopped run's file is still there")
        live.resume()
        XCTAssertEqual(live.wait().status, 0, live.stderr)
        XCTAssertTrue(live.stderr.contains("note: removed 1 temporary file an interrupted run left in \(path("app.db.backstop"))"), live.stderr)
        XCTAssertEqual(try leftovers("app.db.backstop"), [])
        XCTAssertEqual(try listed(["--db", "app.db"]).count, 2)

        // kill -9 before the rename of a restore --to: the next restore to that path removes it.
        try backstopKilled(at: "restore-to.before-rename", ["restore", "--latest", "--db", "app.db", "--to", "copy.db"])
        XCTAssertEqual(try leftovers(".").filter { $0.hasSuffix(".copy.db") }.count, 1)
        let again = try backstop(["restore", "--latest", "--db", "app.db", "--to", "copy.db", "-q"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try leftovers(".").filter { $0.hasSuffix(".copy.db") }, [])
        XCTAssertEqual(try count(path("copy.db")), 20_000)
    }

    func testADataFileWithoutAManifestIsRemovedOnlyOnceItIsOld() throws {
        try makeDatabase(rows: 2000)
        try backstopKilled(at: "snapshot.before-manifest", ["snapshot", "--db", "app.db"])
        let orphans = try snapshotFiles()
        XCTAssertEqual(orphans.count, 1)
        XCTAssertEqual(try listed(["--db", "app.db"]).count, 0, "a data file without its manifest is not a snapshot")
        // Young: it may belong to a run about to write its manifest.
        XCTAssertEqual(try backstop(["prune", "--db", "app.db", "--policy", try policy(keepLast: 5), "-q"]).status, 0)
        XCTAssertEqual(try snapshotFiles(), orphans)
        // Two hours old: removed.
        let old = Date().addingTimeInterval(-7200).timeIntervalSince1970
        var times = [timeval(tv_sec: Int(old), tv_usec: 0), timeval(tv_sec: Int(old), tv_usec: 0)]
        XCTAssertEqual(utimes(path("app.db.backstop/" + orphans[0]), &times), 0)
        let prune = try backstop(["prune", "--db", "app.db", "--policy", try policy(keepLast: 5)])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertEqual(try snapshotFiles(), [])
    }

    func testAVerifyThatFindsItsSnapshotPrunedSaysGoneNotCorrupt() throws {
        let db = try makeDatabase(rows: 2000)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        try execute(db, "INSERT INTO items(name) VALUES ('x')")
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        let oldest = try XCTUnwrap(listed(["--db", "app.db"]).first?["id"] as? String)
        let verify = try backstopStopped(at: "verify.before-snapshot", ["verify", "--db", "app.db", "--deep"])
        let prune = try backstop(["prune", "--db", "app.db", "--policy", try policy(keepLast: 1)])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        verify.resume()
        XCTAssertEqual(verify.wait().status, 3, verify.stderr)
        XCTAssertTrue(verify.stdout.hasPrefix("GONE    \(oldest)"), verify.stdout)
        XCTAssertTrue(verify.stderr.contains("1 snapshot was removed (pruned?) while verify ran"), verify.stderr)
        XCTAssertFalse(verify.stdout.contains("FAILED"), verify.stdout)
    }
}
