import BackstopCodec
import BackstopSQLite
import BackstopTestSupport
import Foundation
import XCTest

/// The read-only VFS that opens Backstop's compressed snapshots in place.
final class SnapshotVFSTests: BackstopTestCase {
    /// Compresses the image of a database of `rows` rows; returns the compressed file, its image size,
    /// and the rows' checksum.
    func compressedImage(rows: Int, pageSize: Int = 4096) throws -> (file: String, imageBytes: Int64, sum: Int64) {
        let name = "image-\(rows)-\(pageSize)"
        let db = try Database(path: path(name + ".db"), mode: .create)
        try db.execute("PRAGMA page_size = \(pageSize); CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT)")
        try db.execute("WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c WHERE n < \(rows)) INSERT INTO items(name) SELECT hex(randomblob(30)) FROM c")
        let sum = try db.int("SELECT sum(id * length(name)) FROM items")
        let image = try Data(contentsOf: URL(fileURLWithPath: path(name + ".db")))
        var out = Data()
        let digest = try image.withUnsafeBytes { raw in
            try ImageCodec.compress(total: Int64(raw.count), level: 1, read: { buffer, offset in
                let n = min(buffer.count, raw.count - Int(offset))
                buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[Int(offset)..<Int(offset) + n]))
                return n
            }, write: { out.append(contentsOf: $0) })
        }
        try out.write(to: URL(fileURLWithPath: path(name + ".gz")))
        XCTAssertEqual(digest.imageBytes, Int64(image.count))
        return (path(name + ".gz"), digest.imageBytes, sum)
    }

    func testASnapshotOpensInPlaceAndReadsLikeTheDatabaseAtEveryPageSize() throws {
        for pageSize in [512, 4096, 65536] {
            let (file, imageBytes, sum) = try compressedImage(rows: 3000, pageSize: pageSize)
            let db = try SnapshotVFS.open(path: file, imageBytes: imageBytes)
            XCTAssertEqual(try db.int("SELECT sum(id * length(name)) FROM items"), sum, "page size \(pageSize)")
            XCTAssertEqual(try db.int("PRAGMA page_size"), Int64(pageSize))
            XCTAssertEqual(IntegrityCheck.run(on: db, quick: false).ok, true)
            XCTAssertThrowsError(try db.execute("DELETE FROM items"), "a snapshot is read-only")
        }
    }

    func testAnImageSizeThatDoesNotMatchOrADamagedBlockFailsAsCorruptionNeverAsData() throws {
        let (file, imageBytes, _) = try compressedImage(rows: 5000)
        XCTAssertThrowsError(try SnapshotVFS.open(path: file, imageBytes: imageBytes + 4096).int("SELECT count(*) FROM items"))
        // Damage bytes in the middle of the compressed data.
        var bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        for i in (bytes.count / 2)..<(bytes.count / 2 + 64) { bytes[i] ^= 0x5A }
        try bytes.write(to: URL(fileURLWithPath: path("damaged.gz")))
        let observer = SnapshotReadObserver()
        let damaged = try SnapshotVFS.open(path: path("damaged.gz"), imageBytes: imageBytes, observer: observer)
        XCTAssertThrowsError(try damaged.int("SELECT sum(length(name)) FROM items")) { error in
            let code = (error as? SQLiteError)?.primaryCode
            XCTAssertTrue(code == .SQLITE_CORRUPT || code == .SQLITE_IOERR, "\(error)")
        }
        XCTAssertNotNil(observer.lastError, "the observer says why")
    }

    func testASmallBlockCacheStillReadsEverything() throws {
        let (file, imageBytes, sum) = try compressedImage(rows: 20_000)
        let db = try SnapshotVFS.open(path: file, imageBytes: imageBytes, cacheBytes: 256 << 10)
        XCTAssertEqual(try db.int("SELECT sum(id * length(name)) FROM items"), sum)
        XCTAssertEqual(try db.int("SELECT count(*) FROM items WHERE id % 997 = 0"), 20)
    }
}
