import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Bad input is a usage error naming what is wrong, never a crash; odd but valid files read as they should.
final class BadInputTests: BackstopTestCase {
    func assertUsageError(_ arguments: [String], _ message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try backstop(arguments)
        XCTAssertEqual(result.status, 2, "backstop \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
        XCTAssertTrue(result.stderr.hasPrefix("error: \(message)"), "backstop \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
    }

    func testHugeOrNonFiniteNumbersAreUsageErrorsNamingTheOption() throws {
        try makeDatabase(rows: 10)
        let taken = try backstop(["snapshot", "--db", "app.db"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let id = taken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        for value in ["inf", "nan", "1e400"] {
            try assertUsageError(["snapshot", "--db", "app.db", "--lock-wait", value], "'--lock-wait' must be a number of seconds")
        }
        try assertUsageError(["snapshot", "--db", "app.db", "--lock-wait", "3000000"], "'--lock-wait' must be at most 86400 seconds (a day)")
        try assertUsageError(["snapshot", "--db", "app.db", "--lock-wait=-1"], "'--lock-wait' must not be negative")
        try assertUsageError(["diff", id, "--db", "app.db", "--table", "items", "--limit", "9223372036854775807"], "'--limit' must be between 1 and 1000000")
        try assertUsageError(["diff", id, "--db", "app.db", "--table", "items", "--limit", "99999999999999999999"], "The value '99999999999999999999' is invalid for '--limit <n>'")
        try assertUsageError(["snapshot", "--db", "app.db", "--level", "99999999999999999999"], "The value '99999999999999999999' is invalid for '--level <n>'")

        try "keep_last = 1\nmax_total_size = \"99999999999999999999GB\"\n".write(toFile: path("huge.toml"), atomically: true, encoding: .utf8)
        try assertUsageError(["policy", "check", "huge.toml"], "huge.toml:2: max_total_size: the size '99999999999999999999GB' is larger than Backstop handles (1048576 TiB)")
        try assertUsageError(["prune", "--db", "app.db", "--policy", "huge.toml"], "\(path("huge.toml")):2: max_total_size: the size '99999999999999999999GB' is larger than Backstop handles (1048576 TiB)")
        try "keep_last = 99999999999999999999\n".write(toFile: path("count.toml"), atomically: true, encoding: .utf8)
        let count = try backstop(["policy", "check", "count.toml"])
        XCTAssertEqual(count.status, 2, count.stderr)
        XCTAssertTrue(count.stderr.hasPrefix("error: count.toml:1: "), count.stderr)

        try "keep_last = 1\n".write(toFile: path("one.toml"), atomically: true, encoding: .utf8)
        try assertUsageError(["policy", "simulate", "one.toml", "--every", "1h", "--for", "400d", "--size", "99999999999999999999GB"],
                             "the size '99999999999999999999GB' is larger than Backstop handles (1048576 TiB)")
        try assertUsageError(["policy", "simulate", "one.toml", "--every", "1h", "--for", "99999999d"], "the duration '99999999d' is longer than 1000 years")
        try assertUsageError(["policy", "simulate", "one.toml", "--every", "0s", "--for", "1d"], "'--every' must be at least 1m")
        try assertUsageError(["restore", "--at", "99999999999 days ago", "--db", "app.db", "--to", "x.db"], "")
        XCTAssertFalse(FileSystem.exists(path("x.db")))
    }

    func testConfigurationAndPolicyFilesWithCRLFLineEndingsReadLikeLFOnes() throws {
        try makeDatabase(rows: 10)
        try "# shared config\r\ndb = \"app.db\"\r\nstore = \"elsewhere\"\r\n".write(toFile: path("backstop.toml"), atomically: true, encoding: .utf8)
        let taken = try backstop(["snapshot", "-q"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        XCTAssertEqual(try listed(["--store", "elsewhere"]).count, 1)

        let lf = "timezone = \"Europe/Paris\"\nkeep_last = 2\nkeep_daily = 7\nmax_total_size = \"2GB\"\n\n[pre_migration]\nkeep_within = \"30d\"\n"
        try lf.write(toFile: path("lf.toml"), atomically: true, encoding: .utf8)
        try lf.replacingOccurrences(of: "\n", with: "\r\n").write(toFile: path("crlf.toml"), atomically: true, encoding: .utf8)
        let fromLF = try backstop(["policy", "check", "lf.toml"])
        let fromCRLF = try backstop(["policy", "check", "crlf.toml"])
        XCTAssertEqual(fromLF.status, 0, fromLF.stderr)
        XCTAssertEqual(fromCRLF.status, 0, fromCRLF.stderr)
        XCTAssertEqual(fromCRLF.stdout, fromLF.stdout.replacingOccurrences(of: "lf.toml", with: "crlf.toml"))
        XCTAssertTrue(fromCRLF.stdout.contains("counted in Europe/Paris"), fromCRLF.stdout)
        XCTAssertTrue(fromCRLF.stdout.contains("At most 2GB of snapshots per database"), fromCRLF.stdout)
    }

    /// A database on a small tmpfs that has shrunk since its snapshot: restoring it needs more room than there is.
    func testAFullDiskUnderTheDatabaseDuringALiveRestoreSaysSoAndChangesNothing() throws {
        for mode in ["wal", "delete"] {
            let mount = path("small-\(mode)")
            mkdir(mount, 0o755)
            guard try run("/bin/mount", ["-t", "tmpfs", "-o", "size=16m", "tmpfs", mount]).status == 0 else {
                throw XCTSkip("cannot mount a tmpfs here (needs root)")
            }
            defer { _ = try? run("/bin/umount", [mount]) }
            let db = try makeDatabase("small-\(mode)/app.db", rows: 30_000, journalMode: mode)
            XCTAssertEqual(try backstop(["snapshot", "--db", db, "--store", "store-\(mode)", "-q"]).status, 0)
            try execute(db, "DELETE FROM items WHERE id > 10; VACUUM")
            if mode == "wal" { try execute(db, "PRAGMA wal_checkpoint(TRUNCATE)") }
            let digest = try contentDigest(db)
            XCTAssertEqual(try run("/bin/sh", ["-c", "dd if=/dev/zero of=\(mount)/filler bs=64k 2>/dev/null; true"]).status, 0)
            let restore = try backstop(["restore", "--latest", "--db", db, "--store", "store-\(mode)", "--yes"])
            XCTAssertEqual(restore.status, 1, "\(mode): " + restore.stderr)
            XCTAssertTrue(restore.stderr.contains("error: the disk holding \(mount) is full: restoring into \(db) failed; the restore was rolled back and the database is as it was\nhint: free some space on the disk holding \(mount) (df -h \(mount)), then run the command again\n"),
                          "\(mode): " + restore.stderr)
            XCTAssertFalse(restore.stderr.contains("not an error"), restore.stderr)
            unlink(mount + "/filler")
            XCTAssertEqual(try contentDigest(db), digest, mode)
            XCTAssertEqual(try count(db), 10, mode)
            // The pre-restore snapshot was taken (it is in the store, not on the full disk) and is complete.
            XCTAssertEqual(try backstop(["verify", "--db", db, "--store", "store-\(mode)", "--deep", "-q"]).status, 0)
            // With room again, the same restore works.
            let again = try backstop(["restore", "--latest", "--db", db, "--store", "store-\(mode)", "--yes", "-q"])
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(try count(db), 30_000, mode)
        }
    }
}
