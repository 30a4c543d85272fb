import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// What Backstop reports as done survives a power cut, not only a kill: the tests run it on a file
/// system that loses everything not flushed (Tests/tools/powercut_fs.py, over FUSE). Unmounting is the
/// power cut: the backing folder then holds what a disk would after losing power at that moment.
final class DurabilityTests: BackstopTestCase {
    /// A power-cut file system mounted at `mnt`, serving `disk`.
    final class PowerCutMount {
        let disk: String
        let mountPoint: String
        private var process: Process?

        init(disk: String, mountPoint: String) throws {
            self.disk = disk
            self.mountPoint = mountPoint
            try mount()
        }

        func mount() throws {
            let python = BackstopTestCase.packageRoot + "/.build/test-venv/bin/python"
            guard FileManager.default.isExecutableFile(atPath: python) else {
                XCTFail("the test tools are missing: run 'make test-deps' (or 'make test'), which installs them in .build/test-venv")
                throw XCTSkip("no test venv")
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: python)
            process.arguments = [BackstopTestCase.packageRoot + "/Tests/tools/powercut_fs.py", disk, mountPoint]
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            self.process = process
            let deadline = Date().addingTimeInterval(20)
            while !isMounted {
                guard process.isRunning, Date() < deadline else {
                    XCTFail("the power-cut file system did not mount at \(mountPoint)")
                    throw XCTSkip("no FUSE mount")
                }
                usleep(20_000)
            }
        }

        var isMounted: Bool {
            ((try? String(contentsOfFile: "/proc/mounts", encoding: .utf8)) ?? "").split(separator: "\n")
                .contains { $0.split(separator: " ").dropFirst().first.map(String.init) == mountPoint }
        }

        /// Cuts the power: unmounts, and waits until only what was durable is left on the disk.
        func cut() {
            guard let process else { return }
            var status: Int32 = 0
            for _ in 0..<100 {
                let umount = Process()
                umount.executableURL = URL(fileURLWithPath: "/bin/umount")
                umount.arguments = [mountPoint]
                umount.standardError = FileHandle.nullDevice
                try? umount.run()
                umount.waitUntilExit()
                status = umount.terminationStatus
                if status == 0 { break }
                usleep(100_000)   // busy: a child that just exited is still closing its files
            }
            XCTAssertEqual(status, 0, "could not unmount \(mountPoint)")
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "the power-cut file system failed")
            self.process = nil
        }

        deinit { if process != nil { cut() } }
    }

    var disk: String { path("disk") }
    var mnt: String { path("mnt") }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard FileManager.default.fileExists(atPath: "/dev/fuse") else { throw XCTSkip("this machine has no /dev/fuse") }
        mkdir(disk, 0o755)
        mkdir(mnt, 0o755)
    }

    /// A rollback-journal database of `rows` items on the (durable) disk, with a migrations folder.
    func makeDiskDatabase(rows: Int) throws -> String {
        let db = try makeDatabase("disk/app.db", rows: rows, journalMode: "delete")
        mkdir(disk + "/migrations", 0o755)
        return db
    }

    func backstopOnMount(_ arguments: [String]) throws -> RunResult {
        try backstop(arguments + ["--db", mnt + "/app.db"])
    }

    /// The harness can fail: a commit SQLite makes with synchronous=FULL in DELETE mode (the journal's
    /// deletion never flushed) and a file never flushed are both lost by the power cut.
    func testThePowerCutLosesWhatWasNotFlushed() throws {
        let db = try makeDiskDatabase(rows: 10)
        let fs = try PowerCutMount(disk: disk, mountPoint: mnt)
        do {
            let app = try Database(path: mnt + "/app.db", mode: .readWrite)
            try app.execute("PRAGMA synchronous = FULL; INSERT INTO items(name) VALUES ('committed, journal deletion not flushed')")
            XCTAssertEqual(try app.int("SELECT count(*) FROM items"), 11)
        }
        try "never flushed".write(toFile: mnt + "/note.txt", atomically: false, encoding: .utf8)
        fs.cut()
        XCTAssertFalse(FileSystem.exists(disk + "/note.txt"))
        XCTAssertTrue(FileSystem.exists(disk + "/app.db-journal"), "the deleted journal came back")
        XCTAssertEqual(try Database(path: db, mode: .readWrite).int("SELECT count(*) FROM items"), 10, "the committed row was rolled back")
    }

    func testAMigrationAndALiveRestoreThatReportedSuccessSurviveAPowerCut() throws {
        let db = try makeDiskDatabase(rows: 500)
        try "ALTER TABLE items ADD COLUMN note TEXT;\nUPDATE items SET note = 'n' || id;\n".write(toFile: disk + "/migrations/0001_note.sql", atomically: true, encoding: .utf8)
        var fs = try PowerCutMount(disk: disk, mountPoint: mnt)
        let migrate = try backstopOnMount(["migrate", "--dir", mnt + "/migrations", "--yes", "-q"])
        XCTAssertEqual(migrate.status, 0, migrate.stderr)
        fs.cut()

        XCTAssertFalse(FileSystem.exists(db + "-journal"), "the journal of the committed migration came back")
        do {
            let migrated = try Database(path: db, mode: .readWrite)
            XCTAssertEqual(try migrated.int("SELECT max(version) FROM backstop_migrations"), 1)
            XCTAssertEqual(try migrated.int("SELECT count(*) FROM items WHERE note IS NOT NULL"), 500)
        }
        let afterMigrate = try listed(["--store", disk + "/app.db.backstop"])
        XCTAssertEqual(afterMigrate.map { $0["kind"] as? String }, ["pre-migration"])
        XCTAssertEqual(try backstop(["verify", "--store", disk + "/app.db.backstop", "--deep", "-q"]).status, 0)
        let journal = try backstop(["journal", "--store", disk + "/app.db.backstop", "--json"])
        XCTAssertEqual(journal.status, 0, journal.stderr)
        XCTAssertTrue(journal.stdout.contains("\"migrate\""), journal.stdout)

        // Back on the mount: delete rows, restore the pre-migration snapshot live, cut.
        fs = try PowerCutMount(disk: disk, mountPoint: mnt)
        try execute(mnt + "/app.db", "PRAGMA synchronous = EXTRA; DELETE FROM items WHERE id > 100")
        let id = try XCTUnwrap(afterMigrate.first?["id"] as? String)
        let restore = try backstopOnMount(["restore", id, "--yes", "-q"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        fs.cut()

        XCTAssertFalse(FileSystem.exists(db + "-journal"), "the journal of the committed restore came back")
        do {
            let restored = try Database(path: db, mode: .readWrite)
            XCTAssertEqual(try restored.int("SELECT count(*) FROM items"), 500)
            XCTAssertFalse(try restored.tableExists("backstop_migrations"), "the state before the migration")
            XCTAssertEqual(try restored.integrityProblems(), [])
        }
        XCTAssertEqual(try listed(["--store", disk + "/app.db.backstop"]).map { $0["kind"] as? String }, ["pre-migration", "pre-restore"])
        XCTAssertEqual(try backstop(["verify", "--store", disk + "/app.db.backstop", "--deep", "-q"]).status, 0)
    }

    func testSnapshotsRestoredFilesRecoveredRowsAndPinsSurviveAPowerCut() throws {
        let db = try makeDiskDatabase(rows: 300)
        var fs = try PowerCutMount(disk: disk, mountPoint: mnt)
        let taken = try backstopOnMount(["snapshot"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let id = taken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let pinned = try backstop(["pin", id, "--store", mnt + "/app.db.backstop", "--note", "keep", "-q"])
        XCTAssertEqual(pinned.status, 0, pinned.stderr)
        let copy = try backstopOnMount(["restore", id, "--to", mnt + "/copy.db", "-q"])
        XCTAssertEqual(copy.status, 0, copy.stderr)
        fs.cut()

        let snapshots = try listed(["--store", disk + "/app.db.backstop"])
        XCTAssertEqual(snapshots.map { $0["id"] as? String }, [id])
        XCTAssertEqual(snapshots.first?["pinned"] as? Bool, true)
        XCTAssertEqual(try backstop(["verify", "--store", disk + "/app.db.backstop", "--deep", "-q"]).status, 0)
        XCTAssertEqual(try count(disk + "/copy.db"), 300)

        // Rows deleted by the app, brought back by recover, then the power goes.
        fs = try PowerCutMount(disk: disk, mountPoint: mnt)
        try execute(mnt + "/app.db", "PRAGMA synchronous = EXTRA; DELETE FROM items WHERE id > 250")
        let recover = try backstopOnMount(["recover", id, "--table", "items", "--where", "id > 250", "--yes", "-q"])
        XCTAssertEqual(recover.status, 0, recover.stderr)
        fs.cut()
        XCTAssertFalse(FileSystem.exists(db + "-journal"), "the journal of the committed recover came back")
        XCTAssertEqual(try count(db), 300)
        XCTAssertEqual(try listed(["--store", disk + "/app.db.backstop"]).map { $0["kind"] as? String }, ["manual", "pre-recover"])
    }
}
