import BackstopSQLite
import BackstopTestSupport
import Foundation
import XCTest

/// Connections: opening never creates a database by accident; statements bind values as data.
final class DatabaseTests: BackstopTestCase {
    func testOpeningRefusesWhatIsNotAnExistingSQLiteDatabaseAndCreatesNothing() throws {
        func reason(_ name: String) -> DatabaseFileError.Reason? {
            do { _ = try Database(path: path(name), mode: .readWrite); return nil } catch let error as DatabaseFileError { return error.reason } catch { return nil }
        }
        XCTAssertEqual(reason("missing.db"), .missing)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("missing.db")), "nothing was created")
        XCTAssertTrue(FileManager.default.createFile(atPath: path("empty.db"), contents: Data()))
        XCTAssertEqual(reason("empty.db"), .empty)
        try Data("this is a text file, not a database".utf8).write(to: URL(fileURLWithPath: path("text.db")))
        XCTAssertEqual(reason("text.db"), .notSQLite)
        mkdir(path("folder.db"), 0o755)
        XCTAssertEqual(reason("folder.db"), .notRegularFile)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("text.db"))), Data("this is a text file, not a database".utf8), "untouched")
        // Creating is explicit.
        let created = try Database(path: path("new.db"), mode: .create)
        try created.execute("CREATE TABLE t(x)")
        XCTAssertNoThrow(try Database(path: path("new.db"), mode: .readOnly))
    }

    func testStatementsBindEveryValueTypeAsDataNeverAsSQL() throws {
        let db = try Database(path: path("values.db"), mode: .create)
        try db.execute("CREATE TABLE v(a, b, c, d, e)")
        let hostile = "x'); DROP TABLE v; --"
        let blob: [UInt8] = [0, 1, 2, 0xFF]
        try db.prepare("INSERT INTO v VALUES (?1, ?2, ?3, ?4, ?5)").all([.integer(Int64.max), .real(2.5), .text(hostile), .blob(blob), .null])
        let select = try db.prepare("SELECT a, b, c, d, e FROM v")
        XCTAssertTrue(select.isReadOnly)
        XCTAssertEqual(select.columnNames, ["a", "b", "c", "d", "e"])
        XCTAssertEqual(try select.all(), [[.integer(Int64.max), .real(2.5), .text(hostile), .blob(blob), .null]])
        XCTAssertTrue(try db.tableExists("v"), "the hostile text stayed data")
        XCTAssertFalse(try db.prepare("DELETE FROM v").isReadOnly)
        // A statement can be run again with other values.
        let insert = try db.prepare("INSERT INTO v(a) VALUES (?1)")
        try insert.all([.integer(1)])
        try insert.all([.integer(2)])
        XCTAssertEqual(try db.int("SELECT count(*) FROM v"), 3)
    }

    func testErrorsCarryTheExtendedCodeAndMatchByPrimaryOrExtendedCode() throws {
        let db = try Database(path: path("errors.db"), mode: .create)
        try db.execute("CREATE TABLE u(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
        try db.execute("INSERT INTO u(name) VALUES ('a')")
        do {
            try db.execute("INSERT INTO u(name) VALUES ('a')")
            XCTFail("a duplicate was inserted")
        } catch let error as SQLiteError {
            XCTAssertEqual(error.code, .SQLITE_CONSTRAINT_UNIQUE)
            XCTAssertEqual(error.primaryCode, .SQLITE_CONSTRAINT)
            XCTAssertTrue(error.isConstraint)
            XCTAssertEqual(error.sql, "INSERT INTO u(name) VALUES ('a')")
            XCTAssertTrue(error.message.contains("UNIQUE constraint failed: u.name"), error.message)
        }
        // Matching: a primary code catches its extended codes; an extended code only itself.
        func matches(_ pattern: ResultCode, _ sql: String) -> Bool {
            do { try db.execute(sql); return false } catch pattern { return true } catch { return false }
        }
        XCTAssertTrue(matches(.SQLITE_CONSTRAINT, "INSERT INTO u(name) VALUES (NULL)"))
        XCTAssertTrue(matches(.SQLITE_CONSTRAINT_NOTNULL, "INSERT INTO u(name) VALUES (NULL)"))
        XCTAssertFalse(matches(.SQLITE_CONSTRAINT_UNIQUE, "INSERT INTO u(name) VALUES (NULL)"))
        XCTAssertTrue(matches(.SQLITE_ERROR, "SELECT * FROM nowhere"))

        // A read-only connection reports SQLITE_READONLY; another connection's write lock, SQLITE_BUSY.
        let reader = try Database(path: path("errors.db"), mode: .readOnly)
        XCTAssertThrowsError(try reader.execute("DELETE FROM u")) { XCTAssertEqual(($0 as? SQLiteError)?.primaryCode, .SQLITE_READONLY) }
        let writer = try Database(path: path("errors.db"), mode: .readWrite)
        try writer.execute("BEGIN IMMEDIATE")
        let other = try Database(path: path("errors.db"), mode: .readWrite, busyTimeout: 0)
        XCTAssertThrowsError(try other.inWriteTransaction { }) { error in
            let busy = error as? WriteLockBusy
            XCTAssertNotNil(busy)
            XCTAssertEqual(busy?.error.primaryCode, .SQLITE_BUSY)
            XCTAssertEqual(busy?.path, self.path("errors.db"))
        }
        try writer.execute("ROLLBACK")
        XCTAssertNoThrow(try other.inWriteTransaction { try other.execute("DELETE FROM u") })
    }

    func testTransactionsCommitOrRollBackAsAWhole() throws {
        let db = try Database(path: path("tx.db"), mode: .create)
        try db.execute("CREATE TABLE t(x)")
        struct Stop: Error {}
        XCTAssertThrowsError(try db.inWriteTransaction { try db.execute("INSERT INTO t VALUES (1)"); throw Stop() })
        XCTAssertEqual(try db.int("SELECT count(*) FROM t"), 0)
        XCTAssertFalse(db.isInTransaction)
        try db.inWriteTransaction(rollback: true) { try db.execute("INSERT INTO t VALUES (1)") }
        XCTAssertEqual(try db.int("SELECT count(*) FROM t"), 0, "a rolled-back transaction keeps nothing")
        try db.inWriteTransaction { try db.execute("INSERT INTO t VALUES (1)") }
        XCTAssertEqual(try db.int("SELECT count(*) FROM t"), 1)
        // Foreign keys are off inside withoutForeignKeyEnforcement and back on after it.
        try db.execute("PRAGMA foreign_keys = ON")
        try db.withoutForeignKeyEnforcement { XCTAssertEqual(try db.int("PRAGMA foreign_keys"), 0) }
        XCTAssertEqual(try db.int("PRAGMA foreign_keys"), 1)
    }

    func testScriptsSplitIntoStatementsWithTheirLines() {
        let script = """
            -- a comment; with a semicolon
            CREATE TABLE a(x TEXT DEFAULT 'semi;colon');
            CREATE TRIGGER t AFTER INSERT ON a BEGIN
              UPDATE a SET x = 'y;' WHERE rowid = new.rowid;
            END;
            /* block; comment */ INSERT INTO a VALUES ("q;uoted");
            """
        let statements = SQLScript.split(script)
        XCTAssertEqual(statements.map(\.line), [2, 3, 6])
        XCTAssertTrue(statements[1].sql.hasSuffix("END;"), statements[1].sql)
        XCTAssertTrue(statements[2].sql.contains("\"q;uoted\""), statements[2].sql)
    }
}
