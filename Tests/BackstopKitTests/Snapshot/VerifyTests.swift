import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class VerifyTests: BackstopTestCase {
    var store: SnapshotStore!
    var db: String!
    var manifest: Manifest!

    override func setUpWithError() throws {
        try super.setUpWithError()
        db = try makeDatabase(rows: 4000)
        store = try SnapshotStore(path: path("store"), create: true)
        manifest = try Snapshotter.take(database: db, store: store, options: SnapshotOptions()).manifest
    }

    func flipByte(at offset: Int64) throws {
        let fd = open(store.dataPath(manifest), O_RDWR)
        defer { close(fd) }
        var byte: UInt8 = 0
        XCTAssertEqual(pread(fd, &byte, 1, off_t(offset)), 1)
        byte ^= 0x40
        XCTAssertEqual(pwrite(fd, &byte, 1, off_t(offset)), 1)
    }

    func testSoundSnapshotVerifiesQuickAndDeep() {
        XCTAssertEqual(Verifier.verify(manifest, in: store, deep: false).problems, [])
        XCTAssertEqual(Verifier.verify(manifest, in: store, deep: true).problems, [])
    }

    func testFlippedByteIsCaughtByQuickAndDeepVerification() throws {
        try flipByte(at: manifest.compressedBytes / 2)
        let quick = Verifier.verify(manifest, in: store, deep: false)
        XCTAssertEqual(quick.problems, ["the file's SHA-256 does not match the manifest (the file changed or is damaged)"])
        let deep = Verifier.verify(manifest, in: store, deep: true)
        XCTAssertFalse(deep.ok)
    }

    func testTruncatedFileIsCaught() throws {
        XCTAssertEqual(truncate(store.dataPath(manifest), off_t(manifest.compressedBytes - 100)), 0)
        let quick = Verifier.verify(manifest, in: store, deep: false)
        XCTAssertTrue(quick.problems.first?.hasPrefix("the file is truncated") ?? false, "\(quick.problems)")
        let deep = Verifier.verify(manifest, in: store, deep: true)
        XCTAssertTrue(deep.problems.contains { $0.contains("truncated") }, "\(deep.problems)")
    }

    func testADataFileRemovedWhileVerifyRunsIsGoneNotDamaged() throws {
        unlink(store.dataPath(manifest))
        for deep in [false, true] {
            let result = Verifier.verify(manifest, in: store, deep: deep)
            XCTAssertEqual(result.status, .gone)
            XCTAssertEqual(result.problems, ["snapshot \(manifest.id) is gone: its data file \(store.dataPath(manifest)) was removed (pruned?) while this run read the store"])
        }
    }

    func testRestoreRefusesACorruptSnapshotAndLeavesTheLiveDatabaseUntouched() throws {
        try execute(db, "DELETE FROM items WHERE id > 10")
        let before = try contentDigest(db)
        let snapshotsBefore = try store.scan().snapshots.count
        try flipByte(at: manifest.compressedBytes / 3)
        XCTAssertThrowsError(try Restorer.restoreLive(manifest, store: store, database: db)) { error in
            guard case BackstopError.verificationFailed = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try contentDigest(db), before)
        // No pre-restore snapshot was taken: nothing was about to change.
        XCTAssertEqual(try store.scan().snapshots.count, snapshotsBefore)
        XCTAssertThrowsError(try Restorer.restoreToFile(manifest, store: store, path: path("copy.db"), force: false))
        XCTAssertFalse(FileSystem.exists(path("copy.db")))
    }

    func testRestoreRefusesATruncatedSnapshot() throws {
        let before = try contentDigest(db)
        XCTAssertEqual(truncate(store.dataPath(manifest), off_t(manifest.compressedBytes / 2)), 0)
        XCTAssertThrowsError(try Restorer.restoreLive(manifest, store: store, database: db)) { error in
            guard case BackstopError.verificationFailed = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try contentDigest(db), before)
    }
}
