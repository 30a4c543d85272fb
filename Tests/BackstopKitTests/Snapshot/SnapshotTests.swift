import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class SnapshotTests: BackstopTestCase {
    func takeSnapshot(_ db: String, store: SnapshotStore, kind: SnapshotKind = .manual, label: String? = nil,
                      ifChanged: Bool = false) throws -> SnapshotOutcome {
        var options = SnapshotOptions(kind: kind, label: label)
        options.ifChanged = ifChanged
        return try Snapshotter.take(database: db, store: store, options: options)
    }

    func testSnapshotDecompressesWithGzipToTheExactImageDescribedByItsManifest() throws {
        let db = try makeDatabase(rows: 3000)
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try takeSnapshot(db, store: store, label: "before upgrade").manifest

        XCTAssertTrue(Manifest.isValidID(manifest.id))
        XCTAssertEqual(manifest.file, manifest.id + ".sqlite.gz")
        XCTAssertEqual(manifest.kind, .manual)
        XCTAssertEqual(manifest.label, "before upgrade")
        XCTAssertEqual(manifest.database, db)
        XCTAssertEqual(manifest.pageSize, 4096)
        XCTAssertEqual(Int64(manifest.pageSize * manifest.pageCount), manifest.dbBytes)
        XCTAssertNil(manifest.schemaVersion)
        XCTAssertEqual(manifest.sqliteVersion, Database.libraryVersion)
        XCTAssertFalse(manifest.pinned)
        XCTAssertEqual(FileSystem.size(store.dataPath(manifest)), manifest.compressedBytes)
        XCTAssertNotNil(Timestamp.parseRFC3339(manifest.createdAt))
        XCTAssertTrue(manifest.createdAt.hasSuffix("Z"))

        // Plain gzip turns the file into the exact image.
        let image = path("image.db")
        let gunzip = try run("/bin/sh", ["-c", "gzip -dc '\(store.dataPath(manifest))' > '\(image)'"])
        XCTAssertEqual(gunzip.status, 0, gunzip.stderr)
        XCTAssertEqual(FileSystem.size(image), manifest.dbBytes)
        XCTAssertEqual(try ImageFiles.sha256(path: image).sha256, manifest.sha256)
        XCTAssertEqual(try ImageFiles.sha256(path: store.dataPath(manifest)).sha256, manifest.compressedSha256)
        XCTAssertEqual(try contentDigest(image), try contentDigest(db))
        XCTAssertEqual(try Database(path: image, mode: .readOnly).integrityProblems(), [])
    }

    func testManifestOnDiskRoundTripsAndHasEveryDocumentedKey() throws {
        let db = try makeDatabase(rows: 10)
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try takeSnapshot(db, store: store).manifest
        let data = try Data(contentsOf: URL(fileURLWithPath: store.manifestPath(id: manifest.id)))
        XCTAssertEqual(try Manifest.decode(data), manifest)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        for key in ["id", "created_at", "kind", "label", "file", "database", "db_bytes", "compressed_bytes", "sha256",
                    "compressed_sha256", "page_size", "page_count", "schema_version", "sqlite_version", "tool_version",
                    "duration_ms", "pinned"] {
            XCTAssertTrue(object.keys.contains(key), "manifest lacks \(key)")
        }
        XCTAssertTrue(object["label"] is NSNull)
        XCTAssertTrue(object["schema_version"] is NSNull)
    }

    func testStoreIsPrivateWhateverTheUmask() throws {
        let db = try makeDatabase(rows: 10)
        let old = umask(0)
        defer { umask(old) }
        let store = try SnapshotStore(path: path("store"), create: true)
        let manifest = try takeSnapshot(db, store: store).manifest
        func mode(_ p: String) -> mode_t { var s = stat(); stat(p, &s); return s.st_mode & 0o777 }
        XCTAssertEqual(mode(store.path), 0o700)
        XCTAssertEqual(mode(store.dataPath(manifest)), 0o600)
        XCTAssertEqual(mode(store.manifestPath(id: manifest.id)), 0o600)
        XCTAssertEqual(mode(store.lockPath), 0o600)
    }

    func testAnExistingFolderIsNeverChmoddedAndAWarningSaysHowToMakeItPrivate() throws {
        let db = try makeDatabase(rows: 10)
        // A shared folder with the sticky bit, given as the store: it keeps its mode and its sticky bit.
        mkdir(path("shared"), 0o777)
        chmod(path("shared"), 0o1777)
        let store = try SnapshotStore(path: path("shared"), create: true)
        _ = try takeSnapshot(db, store: store)
        var s = stat()
        stat(path("shared"), &s)
        XCTAssertEqual(s.st_mode & 0o7777, 0o1777)
        XCTAssertEqual(store.modeReadableByOthers, 0o1777)
        // A store reached through a symbolic link: its target is not locked down either.
        mkdir(path("elsewhere"), 0o755)
        chmod(path("elsewhere"), 0o755)
        symlink(path("elsewhere"), path("linked"))
        _ = try takeSnapshot(db, store: try SnapshotStore(path: path("linked"), create: true))
        stat(path("elsewhere"), &s)
        XCTAssertEqual(s.st_mode & 0o7777, 0o755)
        // A store Backstop creates is private and draws no warning.
        XCTAssertNil(try SnapshotStore(path: path("new"), create: true).modeReadableByOthers)
    }

    func testMissingDatabaseIsAnErrorAndNothingIsCreated() throws {
        let store = try SnapshotStore(path: path("store"), create: true)
        XCTAssertThrowsError(try takeSnapshot(path("missing.db"), store: store)) { error in
            XCTAssertEqual((error as? DatabaseFileError)?.reason, .missing, "\(error)")
        }
        XCTAssertFalse(FileSystem.exists(path("missing.db")))
        XCTAssertEqual(try store.scan().snapshots.count, 0)
    }

    func testNonSQLiteAndEmptyFilesAreRefused() throws {
        let store = try SnapshotStore(path: path("store"), create: true)
        try Data("hello, I am a text file that is long enough".utf8).write(to: URL(fileURLWithPath: path("text.db")))
        _ = FileManager.default.createFile(atPath: path("empty.db"), contents: Data())
        XCTAssertThrowsError(try takeSnapshot(path("text.db"), store: store)) { error in
            XCTAssertEqual((error as? DatabaseFileError)?.reason, .notSQLite, "\(error)")
        }
        XCTAssertThrowsError(try takeSnapshot(path("empty.db"), store: store)) { error in
            XCTAssertEqual((error as? DatabaseFileError)?.reason, .empty, "\(error)")
        }
        XCTAssertEqual(FileSystem.size(path("empty.db")), 0)
    }

    func testIfChangedStoresNothingForAnUnchangedDatabaseAndSnapshotsAChangedOne() throws {
        let db = try makeDatabase(rows: 500)
        let store = try SnapshotStore(path: path("store"), create: true)
        let first = try takeSnapshot(db, store: store, ifChanged: true)
        guard case .created = first else { return XCTFail("the first snapshot must be created") }
        let second = try takeSnapshot(db, store: store, ifChanged: true)
        guard case .unchanged(let same) = second else { return XCTFail("an unchanged database must not be stored again") }
        XCTAssertEqual(same.id, first.manifest.id)
        XCTAssertEqual(try store.scan().snapshots.count, 1)
        try execute(db, "UPDATE items SET name = 'changed' WHERE id = 1")
        guard case .created = try takeSnapshot(db, store: store, ifChanged: true) else { return XCTFail("changed database") }
        XCTAssertEqual(try store.scan().snapshots.count, 2)
        // Nothing temporary is left behind.
        XCTAssertEqual(try FileSystem.listDirectory(store.path).filter { $0.hasPrefix(".") }, [])
    }

    func testSnapshotsTakenInTheSameMillisecondGetDistinctSortedIDs() throws {
        let db = try makeDatabase(rows: 5)
        let store = try SnapshotStore(path: path("store"), create: true)
        let ids = try (0..<8).map { _ in try takeSnapshot(db, store: store).manifest.id }
        XCTAssertEqual(Set(ids).count, 8)
        XCTAssertEqual(ids, ids.sorted())
        XCTAssertEqual(try store.scan().snapshots.map(\.id), ids)
    }

    func testStoreHoldingTwoDatabasesSelectsOnlyTheOneInQuestion() throws {
        let a = try makeDatabase("a.db", rows: 10)
        let b = try makeDatabase("b.db", rows: 20)
        let store = try SnapshotStore(path: path("shared"), create: true)
        let snapA = try takeSnapshot(a, store: store).manifest
        let snapB = try takeSnapshot(b, store: store).manifest
        XCTAssertEqual(try store.snapshots(ofDatabase: a).map(\.id), [snapA.id])
        XCTAssertEqual(try SnapshotSelection.latest.resolve(in: store, database: a).manifest.id, snapA.id)
        XCTAssertEqual(try SnapshotSelection.latest.resolve(in: store, database: b).manifest.id, snapB.id)
        XCTAssertEqual(try store.scan().snapshots.count, 2)
    }

    func testFilesWithoutACompleteManifestAreNeverListedAndAreCleanedUpOnceStale() throws {
        let db = try makeDatabase(rows: 10)
        let store = try SnapshotStore(path: path("store"), create: true)
        let good = try takeSnapshot(db, store: store).manifest
        // A data file whose manifest was never written (a run killed between the two steps),
        // a temporary file from a dead writer, and a half-written manifest.
        let orphan = (store.path as NSString).appendingPathComponent("20200101T000000000Z.sqlite.gz")
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: orphan))
        let deadTemp = (store.path as NSString).appendingPathComponent(".tmp.999999.1.image")
        try Data([1]).write(to: URL(fileURLWithPath: deadTemp))
        try Data("{\"id\": ".utf8).write(to: URL(fileURLWithPath: store.manifestPath(id: "20200101T000000001Z")))
        try Data([1]).write(to: URL(fileURLWithPath: (store.path as NSString).appendingPathComponent("20200101T000000001Z.sqlite.gz")))

        let scan = try store.scan()
        XCTAssertEqual(scan.snapshots.map(\.id), [good.id])
        XCTAssertEqual(Set(scan.problems.map(\.file)), ["20200101T000000000Z.sqlite.gz", "20200101T000000001Z.json"])

        // Fresh orphans are kept (a writer may be about to write the manifest); stale ones go.
        XCTAssertEqual(store.removeStaleFiles(), [".tmp.999999.1.image"])
        XCTAssertTrue(FileSystem.exists(orphan))
        XCTAssertEqual(store.removeStaleFiles(now: Date().addingTimeInterval(2 * SnapshotStore.staleAge)),
                       ["20200101T000000000Z.sqlite.gz"])
        XCTAssertFalse(FileSystem.exists(orphan))
        // An unparseable manifest is never removed automatically.
        XCTAssertTrue(FileSystem.exists(store.manifestPath(id: "20200101T000000001Z")))
    }

    func testManifestsWithPathsOrIDsThatEscapeTheStoreAreRejected() throws {
        let db = try makeDatabase(rows: 10)
        let store = try SnapshotStore(path: path("store"), create: true)
        var manifest = try takeSnapshot(db, store: store).manifest
        manifest.file = "../../etc/passwd"
        XCTAssertThrowsError(try manifest.validate())
        try FileSystem.writeAtomically(try JSONEncoder().encode(manifest), to: store.manifestPath(id: manifest.id))
        XCTAssertEqual(try store.scan().snapshots.count, 0)
        XCTAssertEqual(try store.scan().problems.count, 1)
        XCTAssertFalse(Manifest.isValidID("../20261122T1015001"))
        XCTAssertFalse(Manifest.isValidID("20261122T101500123"))
        XCTAssertTrue(Manifest.isValidID("20261122T101500123Z"))
    }

    func testUnwritableStoreGivesAClearErrorAndLeavesNoSnapshot() throws {
        let db = try makeDatabase(rows: 10)
        let before = try contentDigest(db)
        // A store path that is a file: nothing can be written there.
        _ = FileManager.default.createFile(atPath: path("store"), contents: Data("not a folder".utf8))
        XCTAssertThrowsError(try SnapshotStore(path: path("store"), create: true)) { error in
            XCTAssertTrue("\(error)".contains("store"), "\(error)")
        }
        XCTAssertEqual(try contentDigest(db), before)
    }

    func testSchemaVersionIsReadFromTheMigrationHistory() throws {
        let db = try makeDatabase(rows: 1)
        try execute(db, "CREATE TABLE backstop_migrations(version INTEGER PRIMARY KEY); INSERT INTO backstop_migrations VALUES (27), (28)")
        let store = try SnapshotStore(path: path("store"), create: true)
        XCTAssertEqual(try takeSnapshot(db, store: store).manifest.schemaVersion, 28)
    }
}

/// Backstop runs inside apps too: it must never drop the app's SQLite locks. (Closing any descriptor of a
/// file drops every POSIX lock the process holds on it, so Backstop never opens the database itself.)
final class InProcessLockTests: BackstopTestCase {
    func testSnapshottingInsideAnAppKeepsTheAppsLocks() throws {
        let db = try makeDatabase(rows: 100, journalMode: "delete")
        let app = try Database(path: db, mode: .readWrite)
        try app.execute("BEGIN IMMEDIATE; INSERT INTO items(name) VALUES ('app, uncommitted')")
        let store = try SnapshotStore(path: path("store"), create: true)
        _ = try Snapshotter.take(database: db, store: store, options: SnapshotOptions())
        try Database.checkIsSQLiteFile(db)
        // Another process still cannot write: the app's lock held.
        let other = try run("/usr/bin/sqlite3", [db, ".timeout 200", "INSERT INTO items(name) VALUES ('other process')"])
        XCTAssertNotEqual(other.status, 0)
        XCTAssertTrue(other.stderr.contains("database is locked"), other.stderr)
        try app.execute("COMMIT")
        XCTAssertEqual(try count(db), 101)
    }
}
