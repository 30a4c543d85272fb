import BackstopSQLite
import BackstopTestSupport
import Foundation
import XCTest

/// The online backup API as Backstop uses it: steps, what remains, busy destinations, finishing.
final class BackupTests: BackstopTestCase {
    func source(pages: Int) throws -> Database {
        let db = try Database(path: path("source.db"), mode: .create)
        try db.execute("PRAGMA page_size = 4096; CREATE TABLE t(x BLOB)")
        try db.prepare("INSERT INTO t VALUES (zeroblob(4000))").all()
        for _ in 1..<pages { try db.execute("INSERT INTO t SELECT zeroblob(4000) FROM t LIMIT 1") }
        return db
    }

    func testStepsCopyTheRequestedPagesAndReportWhatRemains() throws {
        let src = try source(pages: 50)
        let total = try src.int("PRAGMA page_count")
        let destination = try Database(path: path("copy.db"), mode: .create)
        let backup = try Backup(from: src, to: destination)
        XCTAssertFalse(try backup.step(pages: 10, busyDeadline: Date()), "10 pages is not all of them")
        XCTAssertEqual(backup.pageCount, Int(total))
        XCTAssertEqual(backup.remaining, Int(total) - 10)
        XCTAssertTrue(try backup.step(pages: -1, busyDeadline: Date()), "-1 copies the rest")
        XCTAssertEqual(backup.remaining, 0)
        try backup.finish()
        XCTAssertTrue(try backup.step(pages: 1, busyDeadline: Date()), "a finished backup is complete")
        XCTAssertEqual(try destination.int("SELECT count(*) FROM t"), try src.int("SELECT count(*) FROM t"))
        XCTAssertEqual(try destination.rows("PRAGMA integrity_check").first?.first?.string, "ok")
    }

    func testABusyDestinationFailsWithSQLITE_BUSYOnceTheDeadlinePasses() throws {
        let src = try source(pages: 5)
        let destination = try Database(path: path("copy.db"), mode: .create, busyTimeout: 0)
        try destination.execute("CREATE TABLE placeholder(x)")
        let holder = try Database(path: path("copy.db"), mode: .readWrite)
        try holder.execute("BEGIN IMMEDIATE")
        let backup = try Backup(from: src, to: destination)
        let started = Date()
        XCTAssertThrowsError(try backup.step(pages: -1, busyDeadline: Date().addingTimeInterval(0.3))) { error in
            XCTAssertEqual((error as? SQLiteError)?.primaryCode, .SQLITE_BUSY)
        }
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.3, "it retried until the deadline")
        try holder.execute("ROLLBACK")
        XCTAssertTrue(try backup.step(pages: -1, busyDeadline: Date().addingTimeInterval(5)))
        try backup.finish()
        XCTAssertFalse(try destination.tableExists("placeholder"), "the backup replaced the destination")
    }
}
