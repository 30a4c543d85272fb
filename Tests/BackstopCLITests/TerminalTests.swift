import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// On a terminal, destructive commands show what will happen and ask. `script` gives the binary a
/// real pseudo-terminal, and the answer is typed on it.
final class TerminalTests: BackstopTestCase {
    func onTerminal(_ arguments: [String], answer: String) throws -> RunResult {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { throw XCTSkip("no script(1) here") }
        let command = ([BackstopTestCase.backstopPath] + arguments).map { "'\($0)'" }.joined(separator: " ")
        return try run("/usr/bin/script", ["-qec", command, "/dev/null"], environment: ["NO_COLOR": "1"], stdin: answer + "\n")
    }

    func testALiveRestoreOnATerminalShowsWhatIsLostAndAsks() throws {
        try makeDatabase(rows: 100)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        try execute(path("app.db"), "DELETE FROM items WHERE id > 10")

        let declined = try onTerminal(["restore", "--latest", "--db", "app.db"], answer: "n")
        XCTAssertEqual(declined.status, 6, declined.stdout)
        XCTAssertTrue(declined.stdout.contains("Everything written to the database since then will be lost."), declined.stdout)
        XCTAssertTrue(declined.stdout.contains("Restore? [y/N]"), declined.stdout)
        XCTAssertTrue(declined.stdout.contains("cancelled; nothing was changed"), declined.stdout)
        XCTAssertEqual(try count(path("app.db")), 10)

        let accepted = try onTerminal(["restore", "--latest", "--db", "app.db"], answer: "y")
        XCTAssertEqual(accepted.status, 0, accepted.stdout)
        XCTAssertTrue(accepted.stdout.contains("undo with: backstop restore "), accepted.stdout)
        XCTAssertEqual(try count(path("app.db")), 100)
    }

    func testMigrateOnATerminalShowsThePlanAndAsks() throws {
        try makeDatabase(rows: 10)
        try writeMigration("0001_a.sql", "CREATE TABLE a(x);")
        let declined = try onTerminal(["migrate", "--db", "app.db"], answer: "no")
        XCTAssertEqual(declined.status, 6, declined.stdout)
        XCTAssertTrue(declined.stdout.contains("0001_a"), declined.stdout)
        XCTAssertTrue(declined.stdout.contains("Apply 1 migration(s) to"), declined.stdout)
        XCTAssertFalse(try Database(path: path("app.db"), mode: .readOnly).tableExists("a"))
        let accepted = try onTerminal(["migrate", "--db", "app.db"], answer: "yes")
        XCTAssertEqual(accepted.status, 0, accepted.stdout)
        XCTAssertTrue(try Database(path: path("app.db"), mode: .readOnly).tableExists("a"))
    }
}
