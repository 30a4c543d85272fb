import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// kill -9 at every commit point (deterministic fault points, `BACKSTOP_FAULT`), and a full disk, never
/// leave a broken database or a listed broken snapshot, and what is left is exactly one of the two states.
final class CrashSafetyTests: BackstopTestCase {
    /// Every listed snapshot of app.db passes deep verification.
    func assertEveryListedSnapshotIsIntact(_ context: String, file: StaticString = #filePath, line: UInt = #line) throws {
        guard try snapshotCount() > 0 else { return }
        let verify = try backstop(["verify", "--db", "app.db", "--deep"])
        XCTAssertEqual(verify.status, 0, "\(context): \(verify.stdout)\(verify.stderr)", file: file, line: line)
    }

    /// Opens the database as the application next would, so that SQLite rolls back what a killed run
    /// left unfinished (a hot journal) before the test looks at it.
    func settle(_ db: String) throws {
        _ = try Database(path: db, mode: .readWrite).int("SELECT count(*) FROM sqlite_schema")
    }

    func snapshotCount() throws -> Int { try listed(["--db", "app.db"]).count }

    func testKillAtEveryStepOfASnapshotLeavesOnlyIntactListedSnapshots() throws {
        try makeDatabase(rows: 60_000)
        _ = try takeSnapshot("app.db", ["--level", "1"])
        // Before the data file is committed, between data and manifest, and after the manifest.
        let points: [(String, listed: Bool)] = [
            ("snapshot.mid-write", false), ("snapshot.mid-write@3", false), ("snapshot.after-data-commit", false),
            ("snapshot.before-manifest", false), ("snapshot.after-manifest", true),
        ]
        for (point, listed) in points {
            let before = try snapshotCount()
            try backstopKilled(at: point, ["snapshot", "--db", "app.db", "--level", "1"])
            XCTAssertEqual(try snapshotCount(), before + (listed ? 1 : 0), point)
            try assertEveryListedSnapshotIsIntact(point)
        }
        // The next run cleans up what the killed runs left (the orphaned data files once they are old).
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        XCTAssertEqual(try FileSystem.listDirectory(path("app.db.backstop")).filter { $0.hasPrefix(".tmp.") }, [])
        try assertEveryListedSnapshotIsIntact("after cleanup")
    }

    func testKillAtEveryStepOfALiveRestoreLeavesTheDatabaseExactlyAsItWasOrFullyRestored() throws {
        for mode in ["wal", "delete"] {
            if FileSystem.exists(path("app.db.backstop")) { try FileManager.default.removeItem(atPath: path("app.db.backstop")) }
            let db = try makeDatabase(rows: 20_000, journalMode: mode)
            let id = try takeSnapshot("app.db", ["--level", "1"])
            let restoredDigest = try contentDigest(db)
            let change = "DELETE FROM items WHERE id % 3 = 0; UPDATE items SET name = 'changed'"
            try execute(db, change)
            let changedDigest = try contentDigest(db)

            let points: [(String, restored: Bool)] = [
                ("snapshot.mid-write", false),            // the pre-restore snapshot, half written
                ("restore.mid-copy", false),
                ("restore.after-pre-restore", false), ("restore.before-commit", false),
                ("restore.after-commit", true),
            ]
            for (point, restored) in points {
                try backstopKilled(at: point, ["restore", id, "--db", "app.db", "--yes"])
                let context = "\(mode) \(point)"
                try settle(db)
                XCTAssertEqual(try contentDigest(db), restored ? restoredDigest : changedDigest, context)
                XCTAssertEqual(try Database(path: db, mode: .readOnly).integrityProblems(), [], context)
                try assertEveryListedSnapshotIsIntact(context)
                if restored { try execute(db, change) }
            }
            XCTAssertEqual(try backstop(["restore", id, "--db", "app.db", "--yes", "-q"]).status, 0)
            XCTAssertEqual(try contentDigest(db), restoredDigest, mode)
            try assertEveryListedSnapshotIsIntact(mode)
            try FileManager.default.removeItem(atPath: db)
            for side in ["-wal", "-shm", "-journal"] where FileSystem.exists(db + side) { try FileManager.default.removeItem(atPath: db + side) }
        }
    }

    func testKillBeforeRestoreToRenamesLeavesNoTarget() throws {
        try makeDatabase(rows: 10_000)
        let id = try takeSnapshot()
        try backstopKilled(at: "restore-to.before-rename", ["restore", id, "--db", "app.db", "--to", "copy.db"])
        XCTAssertFalse(FileSystem.exists(path("copy.db")))
        let again = try backstop(["restore", id, "--db", "app.db", "--to", "copy.db", "-q"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual(try count(path("copy.db")), 10_000)
    }

    func testKillAtEveryStepOfAMigrationLeavesItAppliedWhollyOrNotAtAll() throws {
        let db = try makeDatabase(rows: 5000, journalMode: "delete")
        try writeMigration("0001_note.sql", "ALTER TABLE items ADD COLUMN note TEXT;\nUPDATE items SET note = 'n' || id;\n")
        try writeMigration("0002_trim.sql", "DELETE FROM items WHERE id > 4000;\n")
        let before = try contentDigest(db)
        for point in ["snapshot.mid-write", "migrate.after-snapshot", "migrate.before-commit"] {
            try backstopKilled(at: point, ["migrate", "--db", "app.db", "--yes"])
            try settle(db)
            XCTAssertEqual(try contentDigest(db), before, point)
            XCTAssertFalse(try Database(path: db, mode: .readOnly).tableExists("backstop_migrations"), point)
            try assertEveryListedSnapshotIsIntact(point)
        }
        try backstopKilled(at: "migrate.after-commit", ["migrate", "--db", "app.db", "--yes"])
        let after = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try after.int("SELECT count(*) FROM items"), 4000)
        XCTAssertEqual(try after.int("SELECT max(version) FROM backstop_migrations"), 2)
        XCTAssertEqual(try after.integrityProblems(), [])
    }

    func testKillAtEveryStepOfARecoverLeavesTheRowsAllBackOrNoneBack() throws {
        let db = try makeDatabase(rows: 2000)
        let id = try takeSnapshot()
        try execute(db, "DELETE FROM items WHERE id > 1500")
        let before = try contentDigest(db)
        for point in ["recover.after-predicate", "snapshot.mid-write", "recover.before-commit"] {
            try backstopKilled(at: point, ["recover", id, "--db", "app.db", "--table", "items", "--where", "id > 1500", "--yes"])
            try settle(db)
            XCTAssertEqual(try contentDigest(db), before, point)
            try assertEveryListedSnapshotIsIntact(point)
        }
        let recovered = try backstop(["recover", id, "--db", "app.db", "--table", "items", "--where", "id > 1500", "--yes", "-q"])
        XCTAssertEqual(recovered.status, 0, recovered.stderr)
        XCTAssertEqual(try count(db), 2000)
    }

    func testKillInTheMiddleOfAPruneLeavesEveryListedSnapshotIntact() throws {
        let db = try makeDatabase(rows: 500)
        for round in 0..<4 {
            try execute(db, "INSERT INTO items(name) VALUES ('round \(round)')")
            _ = try takeSnapshot()
        }
        try "keep_last = 1\n".write(toFile: path("policy.toml"), atomically: true, encoding: .utf8)
        try backstopKilled(at: "prune.after-remove", ["prune", "--db", "app.db", "--policy", "policy.toml"])
        XCTAssertEqual(try snapshotCount(), 3, "one snapshot was removed, wholly")
        try assertEveryListedSnapshotIsIntact("prune")
        let prune = try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "-q"])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertEqual(try snapshotCount(), 1)
        XCTAssertEqual(try FileSystem.listDirectory(path("app.db.backstop")).filter { $0.hasSuffix(".sqlite.gz") }.count, 1)
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
        XCTAssertEqual(result.stderr, """
            error: the disk holding \(mountPoint)/store is full: writing the snapshot failed; no snapshot was stored and the database was not touched
            hint: free some space on the disk holding \(mountPoint)/store (df -h \(mountPoint)/store); 'backstop prune' removes old snapshots, then run the command again

            """)
        XCTAssertEqual(try contentDigest(path("app.db")), before)
        XCTAssertEqual(try listed(["--store", "small/store"]).count, 0)
        XCTAssertEqual(try FileSystem.listDirectory(path("small/store")).sorted(), ["lock"], "temporary files are removed")
    }
}
