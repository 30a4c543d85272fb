import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class ImageCodecTests: BackstopTestCase {
    func roundTrip(_ bytes: [UInt8], workers: Int) throws {
        let input = path("input.bin")
        try Data(bytes).write(to: URL(fileURLWithPath: input))
        let compressed = path("out.gz")
        let fd = try FileSystem.createExclusive(compressed)
        let digest = try ImageFiles.compress(path: input, to: fd, outputPath: compressed, level: 6, workers: workers)
        close(fd)
        XCTAssertEqual(digest.imageBytes, Int64(bytes.count))
        XCTAssertEqual(digest.compressedBytes, FileSystem.size(compressed))

        // Backstop's parallel reader.
        let outFD = try FileSystem.createExclusive(path("back.bin"))
        let back = try ImageFiles.decompress(path: compressed, to: outFD, outputPath: path("back.bin"), workers: workers)
        close(outFD)
        XCTAssertEqual(back, digest)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("back.bin"))), Data(bytes))

        // Plain gzip.
        let gunzip = try run("/bin/sh", ["-c", "gzip -dc out.gz | cmp - input.bin"])
        XCTAssertEqual(gunzip.status, 0, gunzip.stdout + gunzip.stderr)
        unlink(input); unlink(compressed); unlink(path("back.bin"))
    }

    func testRoundTripsAcrossBlockBoundariesWithAnyNumberOfWorkers() throws {
        let block = ImageCodec.blockSize
        var generator = SystemRandomNumberGenerator()
        for size in [0, 1, 4096, block - 1, block, block + 1, 3 * block + 12345] {
            let bytes = (0..<size).map { i in i % 3 == 0 ? UInt8.random(in: 0...255, using: &generator) : UInt8(i % 251) }
            for workers in [1, 2, 3] { try roundTrip(bytes, workers: workers) }
        }
    }

    func testGzipFilesWrittenByOtherToolsAreReadWithZlib() throws {
        let bytes = (0..<300_000).map { UInt8($0 % 97) }
        try Data(bytes).write(to: URL(fileURLWithPath: path("plain.bin")))
        // Two members, as `cat a.gz b.gz` makes.
        XCTAssertEqual(try run("/bin/sh", ["-c", "head -c 100000 plain.bin | gzip -6 > two.gz && tail -c +100001 plain.bin | gzip -1 >> two.gz"]).status, 0)
        let digest = try ImageFiles.decompress(path: path("two.gz"), to: nil)
        XCTAssertEqual(digest.imageBytes, Int64(bytes.count))
        XCTAssertEqual(digest.imageSHA256, try ImageFiles.sha256(path: path("plain.bin")).sha256)
    }

    func testTruncatedAndCorruptStreamsAreErrors() throws {
        let bytes = (0..<(3 * ImageCodec.blockSize)).map { UInt8(($0 * 7) % 256) }
        try Data(bytes).write(to: URL(fileURLWithPath: path("in.bin")))
        let fd = try FileSystem.createExclusive(path("in.gz"))
        let digest = try ImageFiles.compress(path: path("in.bin"), to: fd, outputPath: path("in.gz"), level: 1)
        close(fd)
        XCTAssertEqual(truncate(path("in.gz"), off_t(digest.compressedBytes - 5)), 0)
        XCTAssertThrowsError(try ImageFiles.decompress(path: path("in.gz"), to: nil)) { error in
            XCTAssertTrue(error is GzipError, "\(error)")
        }
        // Not gzip at all.
        try Data("definitely not gzip".utf8).write(to: URL(fileURLWithPath: path("junk.gz")))
        XCTAssertThrowsError(try ImageFiles.decompress(path: path("junk.gz"), to: nil))
    }
}
