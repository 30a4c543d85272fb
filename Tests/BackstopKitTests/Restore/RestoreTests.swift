import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class RestoreTests: BackstopTestCase {
    func snapshot(_ db: String, _ store: SnapshotStore) throws -> Manifest {
        try Snapshotter.take(database: db, store: store, options: SnapshotOptions()).manifest
    }

    func testLiveRestoreBringsBackTheContentAndCanItselfBeUndone() throws {
        let db = try makeDatabase(rows: 2000)
        let store = try SnapshotStore(path: path("store"), create: true)
        let original = try contentDigest(db)
        let manifest = try snapshot(db, store)
        try execute(db, "DELETE FROM items WHERE id % 2 = 0; CREATE TABLE extra(x)")
        let changed = try contentDigest(db)

        let report = try Restorer.restoreLive(manifest, store: store, database: db)
        XCTAssertEqual(try contentDigest(db), original)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).integrityProblems(), [])
        let pre = try XCTUnwrap(report.preRestore)
        XCTAssertEqual(pre.kind, .preRestore)
        XCTAssertEqual(pre.label, "before restoring \(manifest.id)")

        // Undo the restore.
        _ = try Restorer.restoreLive(pre, store: store, database: db)
        XCTAssertEqual(try contentDigest(db), changed)
    }

    func testLiveRestoreWhileAnotherConnectionHoldsTheDatabaseOpenInWALMode() throws {
        let db = try makeDatabase(rows: 500)
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try snapshot(db, store)
        let other = try Database(path: db, mode: .readWrite)
        try other.execute("INSERT INTO items(name) VALUES ('written later')")
        XCTAssertEqual(try other.int("SELECT count(*) FROM items"), 501)

        _ = try Restorer.restoreLive(manifest, store: store, database: db)
        // The open connection sees the restored state: WAL and shared memory stayed coherent.
        XCTAssertEqual(try other.int("SELECT count(*) FROM items"), 500)
        try other.execute("INSERT INTO items(name) VALUES ('after restore')")
        XCTAssertEqual(try count(db), 501)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).integrityProblems(), [])
        XCTAssertEqual(try Database(path: db, mode: .readOnly).journalMode, .wal)
    }

    func testRestoreIntoRollbackJournalDatabase() throws {
        let db = try makeDatabase(rows: 300, journalMode: "delete")
        let store = try SnapshotStore(path: path("store"), create: true)
        let original = try contentDigest(db)
        let manifest = try snapshot(db, store)
        try execute(db, "DELETE FROM items")
        _ = try Restorer.restoreLive(manifest, store: store, database: db)
        XCTAssertEqual(try contentDigest(db), original)
        XCTAssertEqual(try Database(path: db, mode: .readOnly).journalMode, .delete)
    }

    func testSnapshotWithAnotherPageSizeRestoresIntoAWALDatabase() throws {
        // The snapshot was taken at page size 8192; since then the database was rebuilt at 4096.
        let db = try makeDatabase(rows: 800, journalMode: "delete", pageSize: 8192)
        let store = try SnapshotStore(path: path("store"), create: true)
        let original = try contentDigest(db)
        let manifest = try snapshot(db, store)
        XCTAssertEqual(manifest.pageSize, 8192)
        try execute(db, "DELETE FROM items WHERE id > 5; PRAGMA page_size = 4096; VACUUM; PRAGMA journal_mode = WAL")
        XCTAssertEqual(try Database(path: db, mode: .readOnly).pageSize, 4096)

        let report = try Restorer.restoreLive(manifest, store: store, database: db)
        XCTAssertTrue(report.convertedPageSize)
        XCTAssertEqual(try contentDigest(db), original)
        let restored = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try restored.pageSize, 4096)
        XCTAssertEqual(try restored.journalMode, .wal)
        XCTAssertEqual(try restored.integrityProblems(), [])
    }

    func testRestoreToNewFileWritesTheExactImageAndRefusesToOverwrite() throws {
        let db = try makeDatabase(rows: 100)
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try snapshot(db, store)
        let report = try Restorer.restoreToFile(manifest, store: store, path: path("copy.db"), force: false)
        XCTAssertEqual(report.target, path("copy.db"))
        XCTAssertEqual(try ImageFiles.sha256(path: path("copy.db")).sha256, manifest.sha256)
        XCTAssertEqual(try contentDigest(path("copy.db")), try contentDigest(db))

        try execute(path("copy.db"), "PRAGMA journal_mode = DELETE; DELETE FROM items")
        XCTAssertThrowsError(try Restorer.restoreToFile(manifest, store: store, path: path("copy.db"), force: false)) { error in
            guard case BackstopError.refused = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try count(path("copy.db")), 0)
        _ = try Restorer.restoreToFile(manifest, store: store, path: path("copy.db"), force: true)
        XCTAssertEqual(try count(path("copy.db")), 100)
    }

    func testForcedRestoreRefusesAFileWithAWALBesideIt() throws {
        let db = try makeDatabase(rows: 10)
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try snapshot(db, store)
        let target = try makeDatabase("busy.db", rows: 1)
        let holder = try Database(path: target, mode: .readWrite)   // keeps busy.db-wal in place
        try holder.execute("INSERT INTO items(name) VALUES ('x')")
        XCTAssertThrowsError(try Restorer.restoreToFile(manifest, store: store, path: target, force: true)) { error in
            guard case BackstopError.refused(let message, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("-wal"))
        }
        XCTAssertEqual(try holder.int("SELECT count(*) FROM items"), 2)
    }

    func testRestoreOfAnotherDatabasesSnapshotIntoTheLiveDatabaseIsRefused() throws {
        let a = try makeDatabase("a.db", rows: 10)
        let b = try makeDatabase("b.db", rows: 20)
        let store = try SnapshotStore(path: path("store"), create: true)
        let ofA = try snapshot(a, store)
        XCTAssertThrowsError(try Restorer.restoreLive(ofA, store: store, database: b)) { error in
            guard case BackstopError.refused = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try count(b), 20)
    }

    func testSelectionByTimePicksTheNewestAtOrBefore() throws {
        let db = try makeDatabase(rows: 1)
        let store = try SnapshotStore(path: path("store"), create: true)
        var manifests: [Manifest] = []
        for _ in 0..<3 {
            manifests.append(try snapshot(db, store))
            usleep(20_000)
        }
        let middle = manifests[1].createdDate
        XCTAssertEqual(try SnapshotSelection.at(middle).resolve(in: store, database: db).manifest.id, manifests[1].id)
        XCTAssertEqual(try SnapshotSelection.at(middle.addingTimeInterval(0.005)).resolve(in: store, database: db).manifest.id, manifests[1].id)
        XCTAssertEqual(try SnapshotSelection.at(Date()).resolve(in: store, database: db).manifest.id, manifests[2].id)
        XCTAssertThrowsError(try SnapshotSelection.at(manifests[0].createdDate.addingTimeInterval(-1)).resolve(in: store, database: db)) { error in
            guard case BackstopError.snapshotNotFound = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(try SnapshotSelection.id(String(manifests[2].id.prefix(19))).resolve(in: store, database: db).manifest.id, manifests[2].id)
    }

    func testMissingLiveDatabaseIsNotCreatedByARestore() throws {
        let db = try makeDatabase(rows: 1)
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try snapshot(db, store)
        unlink(db); unlink(db + "-wal"); unlink(db + "-shm")
        XCTAssertThrowsError(try Restorer.restoreLive(manifest, store: store, database: db)) { error in
            XCTAssertEqual((error as? DatabaseFileError)?.reason, .missing, "\(error)")
        }
        XCTAssertFalse(FileSystem.exists(db))
    }
}
