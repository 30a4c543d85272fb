import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// kill -9 at any moment, and a full disk, never leave a broken database or a listed broken snapshot.
final class CrashSafetyTests: BackstopTestCase {
    func testKillDuringSnapshotLeavesNoListedSnapshotThatFailsDeepVerification() throws {
        try makeDatabase(rows: 60_000)
        var generator = SystemRandomNumberGenerator()
        for round in 0..<8 {
            let process = try start(BackstopTestCase.backstopPath, ["snapshot", "--db", "app.db", "--level", "1"])
            usleep(UInt32.random(in: 0...UInt32(40_000 + round * 40_000), using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let verify = try backstop(["verify", "--db", "app.db", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        // The next run cleans up what the killed runs left behind.
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        let leftovers = try FileSystem.listDirectory(path("app.db.backstop")).filter { $0.hasPrefix(".tmp.") }
        XCTAssertEqual(leftovers, [])
        XCTAssertEqual(try backstop(["verify", "--db", "app.db", "--deep"]).status, 0)
    }

    func testKillDuringRestoreLeavesTheDatabaseAsItWasOrFullyRestored() throws {
        try makeDatabase(rows: 60_000)
        let id = try backstop(["snapshot", "--db", "app.db", "--level", "1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let restoredDigest = try contentDigest(path("app.db"))
        try execute(path("app.db"), "DELETE FROM items WHERE id % 3 = 0; UPDATE items SET name = 'changed'")
        let changedDigest = try contentDigest(path("app.db"))

        var generator = SystemRandomNumberGenerator()
        for round in 0..<8 {
            let process = try start(BackstopTestCase.backstopPath, ["restore", id, "--db", "app.db", "--yes"])
            usleep(UInt32.random(in: 0...UInt32(50_000 + round * 50_000), using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let digest = try contentDigest(path("app.db"))
            XCTAssertTrue(digest == restoredDigest || digest == changedDigest, "round \(round): the database is in between")
            XCTAssertEqual(try Database(path: path("app.db"), mode: .readOnly).integrityProblems(), [])
            if digest == restoredDigest {
                try execute(path("app.db"), "DELETE FROM items WHERE id % 3 = 0; UPDATE items SET name = 'changed'")
            }
        }
        XCTAssertEqual(try backstop(["restore", id, "--db", "app.db", "--yes", "-q"]).status, 0)
        XCTAssertEqual(try contentDigest(path("app.db")), restoredDigest)
        XCTAssertEqual(try backstop(["verify", "--db", "app.db", "--deep"]).status, 0)
    }

    func testFullDiskGivesAClearErrorListsNoPartialSnapshotAndLeavesTheSourceUntouched() throws {
        try makeDatabase(rows: 30_000)
        let before = try contentDigest(path("app.db"))
        let mountPoint = path("small")
        try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
        let mount = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mountPoint])
        guard mount.status == 0 else { throw XCTSkip("cannot mount a small tmpfs here: \(mount.stderr)") }
        defer { _ = try? run("/bin/umount", [mountPoint]) }

        let result = try backstop(["snapshot", "--db", "app.db", "--store", "small/store"])
        XCTAssertEqual(result.status, 1)
        XCTAssertTrue(result.stderr.contains("disk is full"), result.stderr)
        XCTAssertEqual(try contentDigest(path("app.db")), before)
        XCTAssertEqual(try listed(["--store", "small/store"]).count, 0)
        XCTAssertEqual(try FileSystem.listDirectory(path("small/store")).sorted(), ["lock"], "temporary files are removed")
    }
}
