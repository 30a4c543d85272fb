import ArgumentParser
@testable import BackstopCLI
import XCTest

/// Parsing and validation, in process, as swift-argument-parser's own tests do: nothing runs.
final class ParsingTests: XCTestCase {
    /// The message a command line fails to parse with (nil when it parses).
    func failure(_ arguments: [String]) -> String? {
        do {
            _ = try Backstop.parseAsRoot(arguments)
            return nil
        } catch {
            return Backstop.message(for: error)
        }
    }

    func parsed<T: ParsableCommand>(_ arguments: [String], as type: T.Type, file: StaticString = #filePath, line: UInt = #line) throws -> T {
        let command = try Backstop.parseAsRoot(arguments)
        return try XCTUnwrap(command as? T, "parsed as \(Swift.type(of: command))", file: file, line: line)
    }

    func testRestoreNeedsExactlyOneWayToChooseASnapshot() {
        XCTAssertEqual(failure(["restore", "--db", "a.db"]), "choose a snapshot: give an ID, --latest, --at TIME or --before-migration VERSION")
        XCTAssertEqual(failure(["restore", "X", "--latest"]), "give only one of ID, '--latest', '--at' and '--before-migration'")
        XCTAssertEqual(failure(["restore", "X", "--force"]), "'--force' only applies with '--to'")
        XCTAssertEqual(failure(["restore", "X", "--kind", "manual"]), "'--kind' only applies with '--latest' or '--at'")
        XCTAssertEqual(failure(["restore", "--latest", "--kind", "not a kind"]), "'--kind' takes a snapshot kind such as manual or pre-migration, not 'not a kind'")
        XCTAssertNil(failure(["restore", "--latest", "--kind", "pre-restore", "--to", "x.db", "--force"]))
    }

    func testNumbersAreBoundedAndNamed() {
        XCTAssertEqual(failure(["snapshot", "--lock-wait", "inf"]), "'--lock-wait' must be a number of seconds")
        XCTAssertEqual(failure(["snapshot", "--lock-wait=-1"]), "'--lock-wait' must not be negative")
        XCTAssertEqual(failure(["snapshot", "--lock-wait", "86401"]), "'--lock-wait' must be at most 86400 seconds (a day)")
        XCTAssertEqual(failure(["snapshot", "--level", "13"]), "'--level' must be between 1 and 12")
        XCTAssertEqual(failure(["diff", "X", "--limit", "0"]), "'--limit' must be between 1 and 1000000")
    }

    func testFlagsParseIntoTheirOptions() throws {
        let snapshot = try parsed(["snapshot", "--db", "a.db", "--label=--json", "-q", "--if-changed", "--level", "1"], as: Backstop.SnapshotCommand.self)
        XCTAssertEqual(snapshot.label, "--json", "a label that reads like a flag is a label")
        XCTAssertTrue(snapshot.outputOptions.quiet)
        XCTAssertFalse(snapshot.outputOptions.json)
        XCTAssertTrue(snapshot.ifChanged)
        XCTAssertEqual(snapshot.level, 1)
        let recover = try parsed(["recover", "ID", "--table", "t", "--where", "id = 1", "-qy"], as: Backstop.RecoverCommand.self)
        XCTAssertTrue(recover.confirmation.yes, "-qy is -q and -y")
        XCTAssertTrue(recover.outputOptions.quiet)
    }

    func testRecoverAssignmentsParseToTypedValues() throws {
        XCTAssertEqual(try Backstop.RecoverCommand.parseSet("name=x").1, .text("x"))
        XCTAssertEqual(try Backstop.RecoverCommand.parseSet("t.n=42").0, "t.n")
        XCTAssertEqual(try Backstop.RecoverCommand.parseSet("n=42").1, .integer(42))
        XCTAssertEqual(try Backstop.RecoverCommand.parseSet("n=2.5").1, .real(2.5))
        XCTAssertEqual(try Backstop.RecoverCommand.parseSet("n=NULL").1, .null)
        XCTAssertEqual(try Backstop.RecoverCommand.parseSet("n='it''s'").1, .text("it's"))
        XCTAssertThrowsError(try Backstop.RecoverCommand.parseSet("=1"))
        XCTAssertThrowsError(try Backstop.RecoverCommand.parseSet("nothing"))
    }
}
