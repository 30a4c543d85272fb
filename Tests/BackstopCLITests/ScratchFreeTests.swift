import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Snapshots and restores need no scratch space: each command fits in a store (or target) that has room
/// for what it keeps and nothing more, on a size-limited tmpfs. Reading commands need no room at all.
final class ScratchFreeTests: BackstopTestCase {
    /// A tmpfs of `mib` MiB mounted at `name` (in this test's folder), unmounted at the end of the test.
    func tmpfs(_ name: String, mib: Int) throws -> String {
        let mount = path(name)
        mkdir(mount, 0o755)
        let result = try run("/bin/mount", ["-t", "tmpfs", "-o", "size=\(mib)m", "tmpfs", mount])
        guard result.status == 0 else { throw XCTSkip("cannot mount a size-limited tmpfs here (needs root): \(result.stderr)") }
        addTeardownBlock { _ = try? self.run("/bin/umount", [mount]) }
        return mount
    }

    /// A realistic database of about 38 MiB that compresses to about 11 MiB.
    func makeGenerated() throws -> String {
        let result = try run(BackstopTestCase.loadgenPath, ["generate", path("app.db"), "32MiB"])
        XCTAssertEqual(result.status, 0, result.stderr)
        return path("app.db")
    }

    func fill(_ mount: String) throws {
        XCTAssertEqual(try run("/bin/sh", ["-c", "cat /dev/zero > \(mount)/filler 2>/dev/null; true"]).status, 0)
    }

    func testASnapshotNeedsRoomForItsCompressedFileOnly() throws {
        let db = try makeGenerated()
        let imageMiB = Double(try FileManager.default.attributesOfItem(atPath: db)[.size] as! Int) / 1_048_576
        let store = try tmpfs("store", mib: 20)
        XCTAssertLessThan(20, imageMiB, "the store could not hold the image itself")
        let taken = try backstop(["snapshot", "--db", db, "--store", store + "/s", "--json"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let compressed = try document(taken, schema: "snapshot")["snapshot"] as! [String: Any]
        XCTAssertLessThan(compressed["compressed_bytes"] as! Int, 20 << 20)
        XCTAssertEqual(try backstop(["verify", "--db", db, "--store", store + "/s", "--deep", "-q"]).status, 0)
    }

    func testRestoreToNeedsRoomForItsOutputOnly() throws {
        let db = try makeGenerated()
        let id = try takeSnapshot(db)
        let size = try FileManager.default.attributesOfItem(atPath: db)[.size] as! Int
        let target = try tmpfs("target", mib: size / 1_048_576 + 6)
        let restored = try backstop(["restore", id, "--db", db, "--to", target + "/copy.db", "-q"])
        XCTAssertEqual(restored.status, 0, restored.stderr)
        XCTAssertEqual(try contentDigest(target + "/copy.db"), try contentDigest(db))
    }

    func testALiveRestoreNeedsRoomInTheStoreForItsPreRestoreSnapshotOnly() throws {
        let db = try makeGenerated()
        let store = try tmpfs("store", mib: 28)
        let id = try takeSnapshot(db, ["--store", store + "/s"])
        try execute(db, "DELETE FROM events WHERE id % 2 = 0")
        let restore = try backstop(["restore", id, "--db", db, "--store", store + "/s", "--yes", "-q"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try listed(["--db", db, "--store", store + "/s"]).map { $0["kind"] as? String }, ["manual", "pre-restore"])
        XCTAssertEqual(try backstop(["verify", "--db", db, "--store", store + "/s", "--deep", "-q"]).status, 0)
    }

    func testReadingCommandsNeedNoRoomAtAll() throws {
        let db = try makeGenerated()
        let store = try tmpfs("store", mib: 20)
        let id = try takeSnapshot(db, ["--store", store + "/s"])
        try execute(db, "DELETE FROM users WHERE id % 100 = 0")
        try fill(store)
        let args = ["--db", db, "--store", store + "/s"]
        XCTAssertEqual(try backstop(["verify", id, "--deep", "-q"] + args).status, 0)
        let diff = try backstop(["diff", id, "--json"] + args)
        XCTAssertEqual(diff.status, 0, diff.stderr)
        let query = try backstop(["query", id, "SELECT count(*) FROM users", "--csv"] + args)
        XCTAssertEqual(query.status, 0, query.stderr)
        XCTAssertEqual(query.stdout, "count(*)\n12000\n")
        // recover writes only its pre-recover snapshot, which does not fit a full store: it says so, and
        // changes nothing.
        let recover = try backstop(["recover", id, "--table", "users", "--where", "id % 100 = 0", "--yes"] + args)
        XCTAssertEqual(recover.status, 1, recover.stderr)
        XCTAssertTrue(recover.stderr.contains("error: the disk holding \(store)/s is full: writing the snapshot failed"), recover.stderr)
        XCTAssertEqual(try count(db, "users"), 11_880)
        let dryRun = try backstop(["recover", id, "--table", "users", "--where", "id % 100 = 0", "--dry-run"] + args)
        XCTAssertEqual(dryRun.status, 0, dryRun.stderr)
    }
}
