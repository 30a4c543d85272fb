import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// `backstop query`, and snapshots read in place at every page size, in WAL and rollback-journal modes.
final class QueryTests: BackstopTestCase {
    static let queries = [
        "SELECT count(*), sum(length(name)), min(id), max(id) FROM items",
        "SELECT id, name FROM items WHERE id % 997 = 0 ORDER BY id",
        "SELECT a.id, b.id FROM items a JOIN items b ON b.id = a.id + 1 WHERE a.id % 1500 = 0 ORDER BY a.id",
        "SELECT name, count(*) FROM items GROUP BY substr(name, 1, 6) ORDER BY 1 LIMIT 20",
    ]

    /// The rows of `sql` on a database, as CSV the way `backstop query --csv` prints them.
    func csv(_ db: Database, _ sql: String) throws -> String {
        let statement = try db.prepare(sql)
        var lines = [statement.columnNames.joined(separator: ",")]
        while try statement.step() {
            lines.append(statement.row().map { value -> String in
                switch value {
                case .null: return "NULL"
                case .integer(let n): return String(n)
                case .real(let x): return String(x)
                case .text(let s): return s.contains(",") ? "\"\(s)\"" : s
                case .blob: return "blob"
                }
            }.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    func testQueryResultsEqualThoseOnARestoredCopyAtEveryPageSizeAndJournalMode() throws {
        for pageSize in [512, 1024, 4096, 16384, 65536] {
            for mode in ["wal", "delete"] {
                let name = "p\(pageSize)-\(mode).db"
                let db = path(name)
                let setup = try Database(path: db, mode: .create)
                try setup.execute("PRAGMA page_size = \(pageSize); PRAGMA journal_mode = \(mode); CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL)")
                try setup.execute("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < 6000) INSERT INTO items(name) SELECT 'item ' || n || ' ' || hex(randomblob(16)) FROM c")
                XCTAssertEqual(try setup.int("PRAGMA page_size"), Int64(pageSize))
                let id = try takeSnapshot(name, ["--level", "1"])
                let copy = path("copy-" + name)
                XCTAssertEqual(try backstop(["restore", id, "--db", name, "--to", copy, "-q"]).status, 0)
                let restored = try Database(path: copy, mode: .readOnly)
                XCTAssertEqual(try restored.int("PRAGMA page_size"), Int64(pageSize))
                for sql in QueryTests.queries {
                    let result = try backstop(["query", id, sql, "--db", name, "--csv"])
                    XCTAssertEqual(result.status, 0, "\(name): \(result.stderr)")
                    XCTAssertEqual(result.stdout, try csv(restored, sql), "\(name): \(sql)")
                }
                XCTAssertEqual(try backstop(["verify", id, "--db", name, "--deep", "-q"]).status, 0, name)
                // A live restore at that page size.
                try execute(db, "DELETE FROM items WHERE id > 10")
                XCTAssertEqual(try backstop(["restore", id, "--db", name, "--yes", "-q"]).status, 0, name)
                XCTAssertEqual(try count(db), 6000, name)
            }
        }
    }

    func testQueryChoosesLikeRestoreAndPrintsTableCSVAndJSON() throws {
        let db = try makeDatabase(rows: 3)
        try execute(db, "UPDATE items SET name = 'a, \"quoted\"' WHERE id = 2")
        let first = try takeSnapshot()
        try execute(db, "INSERT INTO items(name) VALUES ('later')")
        _ = try takeSnapshot()
        let table = try backstop(["query", "--latest", "SELECT id, name FROM items ORDER BY id", "--db", "app.db"])
        XCTAssertEqual(table.status, 0, table.stderr)
        XCTAssertTrue(table.stdout.hasPrefix("id  name\n1   "), table.stdout)
        XCTAssertTrue(table.stderr.contains("4 rows from snapshot"), table.stderr)
        let csv = try backstop(["query", first, "SELECT id, name FROM items WHERE id = 2", "--db", "app.db", "--csv"])
        XCTAssertEqual(csv.stdout, "id,name\n2,\"a, \"\"quoted\"\"\"\n")
        let json = try document(backstop(["query", first, "SELECT id, name, x'00ff' AS b, NULL AS n FROM items WHERE id <= 2", "--db", "app.db", "--json"]), schema: "query")
        XCTAssertEqual(json["snapshot"] as? String, first)
        XCTAssertEqual(json["columns"] as? [String], ["id", "name", "b", "n"])
        let rows = json["rows"] as! [[Any]]
        XCTAssertEqual(rows.count, 2)
        XCTAssertEqual((rows[1][2] as? [String: String])?["blob_hex"], "00ff")
        XCTAssertTrue(rows[1][3] is NSNull)
        // Writes are refused; a snapshot is never changed.
        let write = try backstop(["query", first, "DELETE FROM items", "--db", "app.db"])
        XCTAssertEqual(write.status, 2)
        XCTAssertTrue(write.stderr.hasPrefix("error: a snapshot is read-only: 'DELETE FROM items' would change it"), write.stderr)
        XCTAssertEqual(try backstop(["verify", first, "--db", "app.db", "-q"]).status, 0)
    }

    func testADamagedMemberIsFoundByTheQueryThatReadsItAndByVerify() throws {
        try makeDatabase(rows: 60_000)
        let id = try takeSnapshot("app.db", ["--level", "1"])
        // Damage the data of a member in the middle of the file (past the first, which holds the schema).
        let file = path("app.db.backstop/\(id).sqlite.gz")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let middle = bytes.count / 2
        for i in middle..<(middle + 200) { bytes[i] ^= 0xA5 }
        try bytes.write(to: URL(fileURLWithPath: file))
        // A query that reads only the first pages still works; one that reads every page does not, and says why.
        let small = try backstop(["query", id, "SELECT name FROM items WHERE id = 1", "--db", "app.db", "--csv"])
        XCTAssertEqual(small.status, 0, small.stderr)
        let all = try backstop(["query", id, "SELECT sum(length(name)) FROM items", "--db", "app.db", "--csv"])
        XCTAssertEqual(all.status, 4, all.stderr)
        XCTAssertTrue(all.stderr.hasPrefix("error: snapshot \(id) failed verification: "), all.stderr)
        let verify = try backstop(["verify", id, "--db", "app.db"])
        XCTAssertEqual(verify.status, 4)
        XCTAssertTrue(verify.stdout.hasPrefix("FAILED  \(id)"), verify.stdout)
    }

    func testTheLoadableExtensionOpensASnapshotInTheSQLiteShell() throws {
        let so = path("backstop_vfs.so")
        let source = BackstopTestCase.packageRoot + "/Sources/CBackstopVFS/snapshot_vfs.c"
        let built = try run("/usr/bin/cc", ["-shared", "-fPIC", "-O2", "-DBACKSTOP_VFS_EXTENSION", "-o", so, source, "-ldeflate"])
        XCTAssertEqual(built.status, 0, built.stderr)
        try makeDatabase(rows: 500)
        let id = try takeSnapshot()
        let shell = try run("/usr/bin/sqlite3", ["-cmd", ".load \(path("backstop_vfs"))", "-cmd", ".open file:\(path("app.db.backstop/\(id).sqlite.gz"))?vfs=backstop",
                                                 ":memory:", "SELECT count(*) FROM items; PRAGMA quick_check;"])
        XCTAssertEqual(shell.status, 0, shell.stderr)
        XCTAssertEqual(shell.stdout, "500\nok\n")
        // Read-only: the shell cannot change the snapshot.
        let write = try run("/usr/bin/sqlite3", ["-cmd", ".load \(path("backstop_vfs"))", "-cmd", ".open file:\(path("app.db.backstop/\(id).sqlite.gz"))?vfs=backstop",
                                                 ":memory:", "DELETE FROM items;"])
        XCTAssertNotEqual(write.status, 0)
        XCTAssertEqual(try backstop(["verify", id, "--db", "app.db", "--deep", "-q"]).status, 0)
    }
}
