import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Never follow what someone else can plant; never change what Backstop did not create; never let text
/// from a file drive the terminal; never read forever.
final class SecurityTests: BackstopTestCase {
    /// A file someone cares about, that a planted link points at.
    func victim(_ name: String = "victim.txt") throws -> String {
        let file = path(name)
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: file))
        chmod(file, 0o644)
        return file
    }

    func assertUntouched(_ file: String, line: UInt = #line) throws {
        XCTAssertEqual(try String(contentsOfFile: file, encoding: .utf8), "precious\n", line: line)
        var info = stat()
        stat(file, &info)
        XCTAssertEqual(info.st_mode & 0o7777, 0o644, line: line)
    }

    func testASymlinkPlantedWhereTheDatabaseLockBelongsIsRefusedAndItsTargetUntouched() throws {
        try makeDatabase(rows: 20)
        let id = try takeSnapshot()
        let target = try victim()
        XCTAssertEqual(symlink(target, path("app.db-backstop.lock")), 0)
        let before = try contentDigest(path("app.db"))

        let restore = try backstop(["restore", id, "--db", "app.db", "--yes"])
        XCTAssertEqual(restore.status, 6, restore.stderr)
        XCTAssertTrue(restore.stderr.hasSuffix("""
            error: refusing to use \(path("app.db-backstop.lock")): the lock file is a symbolic link. Nothing was changed.
            hint: remove it (rm -- \(path("app.db-backstop.lock"))): only Backstop should create it; find out who planted it, then run the command again

            """), restore.stderr)
        try assertUntouched(target)
        XCTAssertEqual(try contentDigest(path("app.db")), before)
    }

    func testASymlinkPlantedWhereTheStoreLockBelongsStopsPrune() throws {
        try makeDatabase(rows: 20)
        XCTAssertEqual(try backstop(["snapshot", "--db", "app.db", "-q"]).status, 0)
        let target = try victim()
        unlink(path("app.db.backstop/lock"))
        XCTAssertEqual(symlink(target, path("app.db.backstop/lock")), 0)
        try Data("keep_last = 1\n".utf8).write(to: URL(fileURLWithPath: path("policy.toml")))
        let prune = try backstop(["prune", "--db", "app.db", "--policy", "policy.toml"])
        XCTAssertEqual(prune.status, 6, prune.stderr)
        XCTAssertTrue(prune.stderr.hasPrefix("error: refusing to use \(path("app.db.backstop/lock")): the lock file is a symbolic link."), prune.stderr)
        try assertUntouched(target)
    }

    func testAHardLinkOrAFIFOWhereALockBelongsIsRefused() throws {
        try makeDatabase(rows: 20)
        let target = try victim()
        XCTAssertEqual(link(target, path("app.db-backstop.lock")), 0)
        let migrate = try backstop(["migrate", "--db", "app.db", "--dir", tmp, "--yes"])
        XCTAssertEqual(migrate.status, 6, migrate.stderr)
        XCTAssertTrue(migrate.stderr.contains("the lock file is not a plain file of its own"), migrate.stderr)
        try assertUntouched(target)
        unlink(path("app.db-backstop.lock"))
        XCTAssertEqual(mkfifo(path("app.db-backstop.lock"), 0o600), 0)
        let again = try backstop(["migrate", "--db", "app.db", "--dir", tmp, "--yes"])
        XCTAssertEqual(again.status, 6, again.stderr)
    }

    func testAnExistingLockFileOrStoreKeepsItsModeAndASharedStoreKeepsItsStickyBit() throws {
        try makeDatabase(rows: 20)
        mkdir(path("shared"), 0o777)
        XCTAssertEqual(chmod(path("shared"), 0o1777), 0)
        XCTAssertTrue(FileManager.default.createFile(atPath: path("app.db-backstop.lock"), contents: nil))
        XCTAssertEqual(chmod(path("app.db-backstop.lock"), 0o640), 0)
        let snapshot = try backstop(["snapshot", "--db", "app.db", "--store", "shared"])
        XCTAssertEqual(snapshot.status, 0, snapshot.stderr)
        XCTAssertTrue(snapshot.stderr.contains("warning: the store \(path("shared")) can be read by other users (mode 1777), and snapshots hold whole databases; make it private with: chmod 700 \(path("shared"))"), snapshot.stderr)
        let id = snapshot.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(try backstop(["restore", id, "--db", "app.db", "--store", "shared", "--yes", "-q"]).status, 0)
        var info = stat()
        stat(path("shared"), &info)
        XCTAssertEqual(info.st_mode & 0o7777, 0o1777)
        stat(path("app.db-backstop.lock"), &info)
        XCTAssertEqual(info.st_mode & 0o7777, 0o640)
        // What Backstop creates is private.
        stat(path("shared/\(id).sqlite.gz"), &info)
        XCTAssertEqual(info.st_mode & 0o7777, 0o600)
    }

    func testControlCharactersInLabelsNotesAndPathsArePrintedEscaped() throws {
        try makeDatabase(rows: 20)
        let hostile = "\u{1B}]0;owned\u{07}\u{1B}[2J\nFAKE-ROW  2099-01-01  manual\u{202E}"
        let id = try takeSnapshot("app.db", ["--label", hostile])
        XCTAssertEqual(try backstop(["pin", id, "--db", "app.db", "--note", "ticket\r\n\u{1B}[31m42", "-q"]).status, 0)
        for command in [["list", "--db", "app.db"], ["show", id, "--db", "app.db"], ["journal", "--db", "app.db"]] {
            let out = try backstop(command)
            XCTAssertEqual(out.status, 0, out.stderr)
            XCTAssertFalse(out.stdout.contains("\u{1B}"), "\(command): \(out.stdout)")
            XCTAssertFalse(out.stdout.contains("\u{202E}"), "\(command)")
            XCTAssertFalse(out.stdout.contains("\nFAKE-ROW"), "\(command): a label forged a row")
            XCTAssertTrue(out.stdout.contains("\\e]0;owned\\x07\\e[2J\\nFAKE-ROW"), "\(command): \(out.stdout)")
        }
        let list = try backstop(["list", "--db", "app.db"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertTrue(list.stdout.contains("yes (ticket\\r\\n\\e[31m42)"), list.stdout)
        // JSON keeps the exact text (escaped the JSON way).
        XCTAssertEqual(try listed(["--db", "app.db"]).first?["label"] as? String, hostile)
    }

    func testASnapshotDataFileThatIsAFIFOOrALinkToADeviceIsRefusedWithoutHanging() throws {
        try makeDatabase(rows: 20)
        let id = try takeSnapshot()
        let data = path("app.db.backstop/\(id).sqlite.gz")
        unlink(data)
        XCTAssertEqual(mkfifo(data, 0o600), 0)
        let verify = try spawnBackstop(["verify", "--db", "app.db", "--deep"])
        XCTAssertFalse(verify.waitUntilStopped(timeout: 20), "verify stopped")
        XCTAssertEqual(verify.wait().status, 4, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("FAILED  \(id).json  its data file \(id).sqlite.gz is not a regular file"), verify.stdout)
        unlink(data)
        XCTAssertEqual(symlink("/dev/zero", data), 0)
        let restore = try spawnBackstop(["restore", id, "--db", "app.db", "--to", "copy.db"])
        XCTAssertFalse(restore.waitUntilStopped(timeout: 20))
        XCTAssertEqual(restore.wait().status, 3, restore.stderr)
        XCTAssertFalse(FileSystem.exists(path("copy.db")))
    }

    func testAForgedManifestCannotMakeDecompressionFillTheDisk() throws {
        try makeDatabase(rows: 20)
        let id = try takeSnapshot()
        // A gzip bomb: 512 MiB of zeros in about half a megabyte, described by a manifest that says 4 KiB.
        let bomb = path("app.db.backstop/\(id).sqlite.gz")
        let gzip = try run("/bin/sh", ["-c", "head -c 536870912 /dev/zero | gzip -9 > \(bomb)"])
        XCTAssertEqual(gzip.status, 0, gzip.stderr)
        let store = try SnapshotStore(path: path("app.db.backstop"), create: false)
        var manifest = try store.snapshot(id: id)
        let stored = try ImageFiles.sha256(path: bomb)
        manifest.compressedBytes = stored.bytes
        manifest.compressedSha256 = stored.sha256
        manifest.pageSize = 4096
        manifest.pageCount = 1
        manifest.dbBytes = 4096
        try store.update(manifest)

        let restore = try backstop(["restore", id, "--db", "app.db", "--to", "copy.db"])
        XCTAssertEqual(restore.status, 4, restore.stderr)
        XCTAssertTrue(restore.stderr.contains("decompresses to more than the 4096 bytes its manifest describes; decompression was stopped"), restore.stderr)
        XCTAssertFalse(FileSystem.exists(path("copy.db")))
        XCTAssertEqual(try FileSystem.listDirectory(tmp).filter { $0.hasPrefix(".tmp.") }, [])
        let verify = try backstop(["verify", id, "--db", "app.db", "--deep"])
        XCTAssertEqual(verify.status, 4, verify.stdout)
    }
}
