import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class MigrationFileTests: BackstopTestCase {
    func write(_ name: String, _ text: String, in folder: String = "migrations") throws -> String {
        try FileManager.default.createDirectory(atPath: path(folder), withIntermediateDirectories: true)
        let file = path(folder + "/" + name)
        try Data(text.utf8).write(to: URL(fileURLWithPath: file))
        return file
    }

    func testSectionsAndTheLineOfEveryStatement() throws {
        let file = try write("0007_add_totals.sql", """
        -- leading comment
        CREATE TABLE a(x);
        -- backstop:require
        SELECT 1 WHERE 0;
        -- backstop:up
        INSERT INTO a VALUES ('semi;colon');
        CREATE TRIGGER t AFTER INSERT ON a BEGIN
          UPDATE a SET x = x;
          SELECT CASE WHEN 1 THEN 2 END;
        END;
        -- backstop:verify
        /* block */ SELECT x FROM a WHERE x IS NULL;
        -- backstop:down
        DROP TABLE a;
        """)
        let migration = try MigrationFile.load(path: file)
        XCTAssertEqual(migration.version, 7)
        XCTAssertEqual(migration.name, "add_totals")
        XCTAssertEqual(migration.up.map(\.line), [2, 6, 7])
        XCTAssertTrue(migration.up[2].sql.hasSuffix("END;"), "a trigger body stays one statement")
        XCTAssertEqual(migration.require.map(\.line), [4])
        XCTAssertEqual(migration.verify.map(\.line), [12])
        XCTAssertEqual(migration.down?.map(\.line), [14])
    }

    func testChecksumIgnoresLineEndingsButNotEdits() throws {
        let lf = try MigrationFile.load(path: try write("0001_a.sql", "CREATE TABLE a(x);\nINSERT INTO a VALUES (1);\n", in: "lf"))
        let crlf = try MigrationFile.load(path: try write("0001_a.sql", "CREATE TABLE a(x);\r\nINSERT INTO a VALUES (1);\r\n", in: "crlf"))
        let edited = try MigrationFile.load(path: try write("0001_a.sql", "CREATE TABLE a(x);\nINSERT INTO a VALUES (2);\n", in: "edit"))
        XCTAssertEqual(lf.checksum, crlf.checksum)
        XCTAssertNotEqual(lf.checksum, edited.checksum)
    }

    func testStatementsThatCannotRunInATransactionAreRejectedWithTheirLine() throws {
        let cases: [(String, String)] = [
            ("CREATE TABLE a(x);\nVACUUM;\n", ":2: VACUUM cannot run inside a transaction"),
            ("PRAGMA journal_mode = WAL;\n", ":1: changing journal_mode"),
            // A transaction statement in the middle (the pair around the whole file is accepted).
            ("CREATE TABLE a(x);\nBEGIN;\nCREATE TABLE b(x);\nCOMMIT;\n", ":2: BEGIN would break"),
            // PRAGMA foreign_keys = ON elsewhere than first (and without an OFF to restore).
            ("CREATE TABLE a(x);\nPRAGMA main.foreign_keys = ON;\n", ":2: PRAGMA foreign_keys is a no-op"),
            ("-- backstop:upp\nSELECT 1;\n", ":1: unknown section marker '-- backstop:upp'"),
            ("-- backstop:up\n-- nothing yet\n", ": the up section holds no SQL yet"),
        ]
        for (index, (text, expected)) in cases.enumerated() {
            let file = try write("000\(index + 1)_bad.sql", text, in: "bad\(index)")
            XCTAssertThrowsError(try MigrationFile.load(path: file)) { error in
                XCTAssertTrue("\(error)".contains(file + expected), "\(error)\nshould contain \(expected)")
            }
        }
        // ROLLBACK TO a savepoint and other pragmas are fine.
        XCTAssertNoThrow(try MigrationFile.load(path: try write("0001_ok.sql", "SAVEPOINT s;\nROLLBACK TO s;\nRELEASE s;\nPRAGMA user_version = 3;\n", in: "ok")))
    }

    func testFolderProblemsAreFoundWithoutADatabase() throws {
        _ = try write("0001_first.sql", "CREATE TABLE a(x);")
        _ = try write("0002_second.sql", "CREATE TABLE b(x);")
        _ = try write("0002_other_branch.sql", "CREATE TABLE c(x);")
        _ = try write("add_things.sql", "CREATE TABLE d(x);")
        _ = try write("0003_broken.sql", "VACUUM;")
        _ = try write("guard.sql", "SELECT 1 WHERE 0;")
        let directory = try MigrationDirectory.load(path: path("migrations"))
        XCTAssertEqual(directory.files.map(\.fileName), ["0001_first.sql", "0002_other_branch.sql", "0002_second.sql"])
        XCTAssertEqual(directory.guardQueries.count, 1)
        XCTAssertEqual(directory.problems.map(\.kind).sorted { $0.rawValue < $1.rawValue }, [.duplicateVersion, .invalid, .invalid])
    }

    func testNewCreatesTheNextNumberedFileFromTheTemplate() throws {
        _ = try write("0028_populate.sql", "SELECT 1;")
        let created = try MigrationDirectory.createNext(in: path("migrations"), name: "Add invoice totals!")
        XCTAssertEqual((created as NSString).lastPathComponent, "0029_add_invoice_totals.sql")
        let text = try String(contentsOfFile: created, encoding: .utf8)
        for marker in ["-- backstop:require", "-- backstop:up", "-- backstop:verify", "-- backstop:down"] {
            XCTAssertTrue(text.contains("\n" + marker + "\n"), marker)
        }
        // Until someone writes SQL into it, the template is never applied as an empty migration.
        XCTAssertThrowsError(try MigrationFile.load(path: created)) { error in
            XCTAssertTrue("\(error)".hasSuffix("the up section holds no SQL yet (a placeholder has no sections at all)"), "\(error)")
        }
        XCTAssertEqual((try MigrationDirectory.createNext(in: path("fresh"), name: "init") as NSString).lastPathComponent, "0001_init.sql")
    }
}
