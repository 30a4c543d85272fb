import BackstopKit
import BackstopRemote
import BackstopTestSupport
import Foundation
import XCTest

/// What the store test suite does to a repository besides reading it: the local store and a remote one
/// each have a harness, and the same checks run against both (as restic tests its backends).
protocol RepositoryHarness {
    /// A new handle on the repository (nothing cached from earlier reads).
    func repository() throws -> any SnapshotRepository
    /// Copies a snapshot in the way that repository gets them.
    func add(_ manifest: Manifest, from local: SnapshotStore) throws
    func deleteData(_ manifest: Manifest) throws
    func putStray(_ name: String, _ bytes: Data) throws
    func remove(_ manifest: Manifest) throws
}

/// A second local store, filled by copying files (data first, manifest last, each atomically).
struct LocalHarness: RepositoryHarness {
    let path: String
    func repository() throws -> any SnapshotRepository { try SnapshotStore(path: path, create: true) }
    func add(_ manifest: Manifest, from local: SnapshotStore) throws {
        _ = try repository()
        try FileSystem.writeAtomically(try Data(contentsOf: URL(fileURLWithPath: local.dataPath(manifest))),
                                       to: (path as NSString).appendingPathComponent(manifest.file))
        try FileSystem.writeAtomically(try manifest.encoded(), to: (path as NSString).appendingPathComponent(Manifest.manifestName(for: manifest.id)))
    }
    func deleteData(_ manifest: Manifest) throws { try FileManager.default.removeItem(atPath: (path as NSString).appendingPathComponent(manifest.file)) }
    func putStray(_ name: String, _ bytes: Data) throws { try FileSystem.writeAtomically(bytes, to: (path as NSString).appendingPathComponent(name)) }
    func remove(_ manifest: Manifest) throws { try SnapshotStore(path: path, create: false).remove(manifest) }
}

/// A prefix of a bucket on SeaweedFS, filled by `push`.
struct RemoteHarness: RepositoryHarness {
    let server: S3TestServer
    let bucket: String
    let prefix: String
    var partSize: Int64 = 5 << 20
    func repository() throws -> any SnapshotRepository { store() }
    func store() -> RemoteStore {
        RemoteStore(name: "test", location: S3Location(bucket: bucket, prefix: prefix), client: try! server.client(bucket: bucket), partSize: partSize)
    }
    func add(_ manifest: Manifest, from local: SnapshotStore) throws {
        let outcome = try store().push(manifest, from: local)
        guard case .pushed = outcome else { throw BackstopError.failed("not pushed: \(outcome)") }
    }
    func deleteData(_ manifest: Manifest) throws { try server.client(bucket: bucket).delete("\(prefix)/\(manifest.file)") }
    func putStray(_ name: String, _ bytes: Data) throws { _ = try server.client(bucket: bucket).put("\(prefix)/\(name)", body: bytes) }
    func remove(_ manifest: Manifest) throws { try store().remove(manifest) }
}

/// The checks every repository must pass.
class RepositoryContract: BackstopTestCase {
    func harness() throws -> RepositoryHarness { fatalError("a subclass names its repository") }

    /// Two snapshots in a local store: a small one, and one of about 12 MiB of incompressible rows (several parts).
    func twoSnapshots() throws -> (SnapshotStore, [Manifest]) {
        let db = try makeDatabase(rows: 500)
        let local = try SnapshotStore(path: path("local"), create: true)
        let first = try Snapshotter.take(database: db, store: local, options: SnapshotOptions(kind: .manual)).manifest
        try Database(path: db, mode: .readWrite).execute("""
            CREATE TABLE noise(id INTEGER PRIMARY KEY, b BLOB);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO noise(b) SELECT randomblob(4000) FROM n;
            """)
        let second = try Snapshotter.take(database: db, store: local, options: SnapshotOptions(kind: .manual)).manifest
        return (local, [first, second])
    }

    func checkEmpty() throws {
        let scan = try harness().repository().scan()
        XCTAssertEqual(scan.snapshots.map(\.id), [])
        XCTAssertEqual(scan.problems, [])
    }

    func checkSnapshotsReadBackExactly() throws {
        let harness = try harness()
        let (local, manifests) = try twoSnapshots()
        for manifest in manifests { try harness.add(manifest, from: local) }
        let repository = try harness.repository()
        XCTAssertEqual(try repository.scan().snapshots, manifests)
        XCTAssertEqual(try repository.snapshot(id: manifests[1].id), manifests[1])
        XCTAssertEqual(try repository.snapshots(ofDatabase: manifests[0].database).map(\.id), manifests.map(\.id))
        for manifest in manifests {
            let stored = try repository.openStored(manifest)
            defer { stored.close() }
            XCTAssertEqual(stored.size, manifest.compressedBytes)
            let original = try Data(contentsOf: URL(fileURLWithPath: local.dataPath(manifest)))
            var all = Data(count: Int(stored.size))
            try all.withUnsafeMutableBytes { try stored.read($0, 0) }
            XCTAssertEqual(SHA256Hasher.hex(of: all), manifest.compressedSha256)
            // Random access, across block boundaries, in no order.
            for offset in [stored.size - 10, 0, stored.size / 2 - 3, Int64(8 << 20) - 5].filter({ $0 >= 0 && $0 + 10 <= stored.size }) {
                var piece = Data(count: 10)
                try piece.withUnsafeMutableBytes { try stored.read($0, offset) }
                XCTAssertEqual(piece, original.subdata(in: Int(offset)..<Int(offset) + 10), "at \(offset)")
            }
            XCTAssertEqual(Verifier.verify(manifest, in: repository, deep: false).status, .ok)
            XCTAssertEqual(Verifier.verify(manifest, in: repository, deep: true).status, .ok)
        }
        // A restore to a new file reads it with no local store at all.
        let report = try Restorer.restoreToFile(manifests[1], from: repository, store: nil, path: path("restored.db"))
        XCTAssertEqual(report.restored.id, manifests[1].id)
        XCTAssertEqual(SHA256Hasher.hex(of: try Data(contentsOf: URL(fileURLWithPath: path("restored.db")))), manifests[1].sha256)
    }

    func checkIncompleteSnapshotsAreNotListed() throws {
        let harness = try harness()
        let (local, manifests) = try twoSnapshots()
        for manifest in manifests { try harness.add(manifest, from: local) }
        try harness.deleteData(manifests[0])
        try harness.putStray("20200101T000000000Z.sqlite.gz", Data("not a snapshot".utf8))
        let scan = try harness.repository().scan()
        XCTAssertEqual(scan.snapshots.map(\.id), [manifests[1].id])
        XCTAssertEqual(scan.problems, [
            StoreProblem(file: "20200101T000000000Z.sqlite.gz", reason: "incomplete snapshot (no manifest)"),
            StoreProblem(file: Manifest.manifestName(for: manifests[0].id), reason: "its data file \(manifests[0].file) is missing"),
        ])
    }

    func checkRemovedSnapshotsAreGoneNotDamaged() throws {
        let harness = try harness()
        let (local, manifests) = try twoSnapshots()
        for manifest in manifests { try harness.add(manifest, from: local) }
        try harness.remove(manifests[0])
        let repository = try harness.repository()
        XCTAssertEqual(try repository.scan().snapshots.map(\.id), [manifests[1].id])
        XCTAssertThrowsError(try repository.snapshot(id: manifests[0].id)) { error in
            guard case BackstopError.snapshotNotFound = error else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(Verifier.verify(manifests[0], in: repository, deep: true).status, .gone)
    }

    func checkDamagedDataFailsVerification() throws {
        let harness = try harness()
        let (local, manifests) = try twoSnapshots()
        try harness.add(manifests[0], from: local)
        // The same size, other bytes: only a checksum can tell.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: local.dataPath(manifests[0])))
        bytes[bytes.count / 2] ^= 0xff
        try harness.putStray(manifests[0].file, bytes)
        let repository = try harness.repository()
        XCTAssertEqual(try repository.scan().snapshots.map(\.id), [manifests[0].id])
        let quick = Verifier.verify(manifests[0], in: repository, deep: false)
        XCTAssertEqual(quick.status, .failed, "\(quick.problems)")
        XCTAssertEqual(Verifier.verify(manifests[0], in: repository, deep: true).status, .failed)
    }
}

final class LocalRepositoryTests: RepositoryContract {
    override func harness() throws -> RepositoryHarness { LocalHarness(path: path("replica")) }
    func testEmpty() throws { try checkEmpty() }
    func testSnapshotsReadBackExactly() throws { try checkSnapshotsReadBackExactly() }
    func testIncompleteSnapshotsAreNotListed() throws { try checkIncompleteSnapshotsAreNotListed() }
    func testRemovedSnapshotsAreGoneNotDamaged() throws { try checkRemovedSnapshotsAreGoneNotDamaged() }
    func testDamagedDataFailsVerification() throws { try checkDamagedDataFailsVerification() }
}

final class RemoteRepositoryTests: RepositoryContract {
    nonisolated(unsafe) static var server: S3TestServer?
    var bucket = ""

    override class func setUp() {
        super.setUp()
        server = S3TestServer.forTestClass("remote")
    }

    override class func tearDown() {
        server?.discard()
        server = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard let server = RemoteRepositoryTests.server else { throw BackstopError.failed("the S3 test server did not start (see make test-deps)") }
        bucket = "t-\(UUID().uuidString.prefix(8).lowercased())"
        try server.makeBucket(bucket)
    }

    override func harness() throws -> RepositoryHarness { RemoteHarness(server: RemoteRepositoryTests.server!, bucket: bucket, prefix: "a/b") }
    func testEmpty() throws { try checkEmpty() }
    func testSnapshotsReadBackExactly() throws { try checkSnapshotsReadBackExactly() }
    func testIncompleteSnapshotsAreNotListed() throws { try checkIncompleteSnapshotsAreNotListed() }
    func testRemovedSnapshotsAreGoneNotDamaged() throws { try checkRemovedSnapshotsAreGoneNotDamaged() }
    func testDamagedDataFailsVerification() throws { try checkDamagedDataFailsVerification() }

    /// Remote only: pushing twice sends nothing the second time; the manifest is never overwritten.
    func testPushIsIdempotentAndNeverOverwritesAManifest() throws {
        let harness = RemoteHarness(server: RemoteRepositoryTests.server!, bucket: bucket, prefix: "a/b")
        let (local, manifests) = try twoSnapshots()
        XCTAssertEqual(try harness.store().push(manifests[1], from: local), .pushed(bytes: manifests[1].compressedBytes, resumedParts: 0))
        XCTAssertEqual(try harness.store().push(manifests[1], from: local), .present)
        // Another snapshot's manifest under the same id is refused, not replaced.
        var forged = manifests[0]
        forged.id = manifests[1].id
        forged.file = manifests[1].file
        XCTAssertThrowsError(try harness.store().push(forged, from: local))
        XCTAssertEqual(try harness.store().scan().snapshots, [manifests[1]])
    }

    /// Remote only: unfinished multipart uploads and data files without a manifest older than an hour are
    /// removed by the stale sweep; recent ones (a push in progress) are not.
    func testStaleUploadsAreAborted() throws {
        let server = RemoteRepositoryTests.server!
        let client = try server.client(bucket: bucket)
        let store = RemoteHarness(server: server, bucket: bucket, prefix: "a/b").store()
        let upload = try client.createMultipartUpload("a/b/20260101T000000000Z.sqlite.gz")
        _ = try client.uploadPart("a/b/20260101T000000000Z.sqlite.gz", uploadID: upload, number: 1, body: Data(repeating: 7, count: 1000))
        _ = try client.put("a/b/20260102T000000000Z.sqlite.gz", body: Data("orphan".utf8))
        XCTAssertEqual(try store.removeStale(now: Date(), dryRun: false), [])
        XCTAssertEqual(try client.listMultipartUploads(prefix: "a/b/").count, 1)
        let later = Date().addingTimeInterval(2 * RemoteStore.staleAge)
        XCTAssertEqual(try store.removeStale(now: later, dryRun: true).count, 2)
        XCTAssertEqual(try client.listMultipartUploads(prefix: "a/b/").count, 1, "a dry run removed something")
        XCTAssertEqual(try store.removeStale(now: later, dryRun: false),
                       ["unfinished upload of 20260101T000000000Z.sqlite.gz", "20260102T000000000Z.sqlite.gz"])
        XCTAssertEqual(try client.listMultipartUploads(prefix: "a/b/").count, 0)
        XCTAssertNil(try client.head("a/b/20260102T000000000Z.sqlite.gz"))
    }

    /// Remote only: the lease admits one holder; a live lease makes others wait and give up; a stale one is taken over.
    func testLease() throws {
        let server = RemoteRepositoryTests.server!
        let store = RemoteHarness(server: server, bucket: bucket, prefix: "a/b").store()
        let first = try RemoteLease.acquire(store, ttl: 600, wait: 0)
        XCTAssertThrowsError(try RemoteLease.acquire(store, ttl: 600, wait: 0.3)) { error in
            guard case BackstopError.locked(let what, let holder, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(what, "the replica s3://\(bucket)/a/b")
            XCTAssertTrue(holder.contains("pid \(getpid())"), holder)
        }
        first.release()
        let second = try RemoteLease.acquire(store, ttl: 0.5, wait: 0)
        Thread.sleep(forTimeInterval: 1)
        let third = try RemoteLease.acquire(store, ttl: 600, wait: 0)
        XCTAssertNotNil(third.tookOverFrom)
        // The stale holder's release leaves the new holder's lease alone.
        second.release()
        XCTAssertThrowsError(try RemoteLease.acquire(store, ttl: 600, wait: 0))
        third.release()
        XCTAssertNil(try server.client(bucket: bucket).head("a/b/lock.json"))
    }
}
