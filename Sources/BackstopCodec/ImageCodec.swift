import CZlib
import Foundation

/// Checksums and sizes of a database image and its compressed form.
public struct ImageDigest: Equatable, Sendable {
    public var imageSHA256: String
    public var imageBytes: Int64
    public var compressedSHA256: String
    public var compressedBytes: Int64
}

/// Reports progress as (bytes done, bytes in all).
public typealias ProgressHandler = (_ done: Int64, _ total: Int64) -> Void

/// Streams database images to and from Backstop's gzip format on all cores, hashing both sides.
/// Memory is bounded by the block size times the window, whatever the size of the image.
public enum ImageCodec {
    /// Size of one block of the image; each becomes one gzip member.
    public static let blockSize = 1 << 20
    public static var defaultWorkers: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Reads up to `buffer.count` bytes of the input at an offset; returns how many (0 at the end).
    public typealias Reader = (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int
    /// Takes the next piece of output, in order.
    public typealias Writer = (_ bytes: UnsafeRawBufferPointer) throws -> Void

    /// Compresses the image that `read` yields (`total` bytes, for progress) into members passed to `write`
    /// in order, hashing both sides.
    public static func compress(total: Int64, level: Int, workers: Int = defaultWorkers, read: Reader, write: Writer,
                                progress: ProgressHandler? = nil) throws -> ImageDigest {
        let imageHash = SHA256Hasher()
        let compressedHash = SHA256Hasher()
        var offset: Int64 = 0
        var imageBytes: Int64 = 0
        var compressedBytes: Int64 = 0

        try OrderedPipeline.run(
            workers: workers, window: workers * 3,
            makeContext: { GzipMemberCompressor(level: level) },
            produce: { () throws -> [UInt8]? in
                var block = [UInt8](repeating: 0, count: blockSize)
                let n = try block.withUnsafeMutableBytes { try read($0, offset) }
                guard n > 0 else { return nil }
                if n < blockSize { block.removeLast(blockSize - n) }
                offset += Int64(n)
                return block
            },
            transform: { compressor, block in
                (block, block.withUnsafeBytes { compressor.member(for: $0) })
            },
            consume: { (pair: ([UInt8], [UInt8])) in
                let (block, member) = pair
                imageHash.update(block)
                compressedHash.update(member)
                try member.withUnsafeBytes { try write($0) }
                imageBytes += Int64(block.count)
                compressedBytes += Int64(member.count)
                progress?(imageBytes, total)
            })
        if imageBytes == 0 {
            // An empty image is still a valid (empty) gzip stream.
            let member = GzipMemberCompressor(level: level).member(for: UnsafeRawBufferPointer(start: nil, count: 0))
            compressedHash.update(member)
            try member.withUnsafeBytes { try write($0) }
            compressedBytes += Int64(member.count)
        }
        return ImageDigest(imageSHA256: imageHash.finalizeHex(), imageBytes: imageBytes,
                           compressedSHA256: compressedHash.finalizeHex(), compressedBytes: compressedBytes)
    }

    /// Decompresses the gzip stream that `read` yields (`total` bytes, for progress), passing the image
    /// to `write` (or nowhere when nil), and returns the checksums of both sides. Members written by
    /// Backstop are inflated on all cores; any other gzip stream is inflated with zlib on one.
    public static func decompress(total: Int64, workers: Int = defaultWorkers, read: Reader, write: Writer?,
                                  progress: ProgressHandler? = nil) throws -> ImageDigest {
        var header = [UInt8](repeating: 0, count: GzipMember.headerSize)
        let headerCount = try header.withUnsafeMutableBytes { try readFully(read, $0, at: 0) }
        let isBackstopFormat = headerCount == GzipMember.headerSize
            && header.withUnsafeBytes({ GzipMember.parseHeader($0) }) != nil
        if !isBackstopFormat {
            return try inflateWithZlib(read: read, total: total, write: write, progress: progress)
        }

        let imageHash = SHA256Hasher()
        let compressedHash = SHA256Hasher()
        var offset: Int64 = 0
        var imageBytes: Int64 = 0
        try OrderedPipeline.run(
            workers: workers, window: workers * 3,
            makeContext: { GzipMemberDecompressor() },
            produce: { () throws -> ([UInt8], Int)? in
                var header = [UInt8](repeating: 0, count: GzipMember.headerSize)
                let n = try header.withUnsafeMutableBytes { try readFully(read, $0, at: offset) }
                if n == 0 { return nil }
                guard n == GzipMember.headerSize else { throw GzipError.truncated }
                guard let sizes = header.withUnsafeBytes({ GzipMember.parseHeader($0) }),
                      sizes.blockSize <= 64 << 20, sizes.memberSize <= (64 << 20) + 4096 else {
                    throw GzipError.corrupt("unexpected data at byte \(offset)")
                }
                var member = [UInt8](repeating: 0, count: sizes.memberSize)
                let got = try member.withUnsafeMutableBytes { try readFully(read, $0, at: offset) }
                guard got == sizes.memberSize else { throw GzipError.truncated }
                compressedHash.update(member)
                offset += Int64(got)
                return (member, sizes.blockSize)
            },
            transform: { decompressor, item in
                try decompressor.block(from: item.0, blockSize: item.1)
            },
            consume: { (block: [UInt8]) in
                imageHash.update(block)
                if let write { try block.withUnsafeBytes { try write($0) } }
                imageBytes += Int64(block.count)
                progress?(offset, total)
            })
        return ImageDigest(imageSHA256: imageHash.finalizeHex(), imageBytes: imageBytes,
                           compressedSHA256: compressedHash.finalizeHex(), compressedBytes: offset)
    }

    /// Single-threaded zlib inflate of any (multi-member) gzip stream.
    private static func inflateWithZlib(read: Reader, total: Int64, write: Writer?,
                                        progress: ProgressHandler?) throws -> ImageDigest {
        var stream = z_stream()
        guard backstop_inflate_init_gzip(&stream) == Z_OK else { throw GzipError.corrupt("zlib could not start") }
        defer { inflateEnd(&stream) }
        let imageHash = SHA256Hasher()
        let compressedHash = SHA256Hasher()
        var inBuffer = [UInt8](repeating: 0, count: 1 << 20)
        var outBuffer = [UInt8](repeating: 0, count: 1 << 20)
        var offset: Int64 = 0
        var imageBytes: Int64 = 0
        var inMember = false
        while true {
            let n = try inBuffer.withUnsafeMutableBytes { try readFully(read, $0, at: offset) }
            if n == 0 { break }
            offset += Int64(n)
            inBuffer.withUnsafeBytes { compressedHash.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            try inBuffer.withUnsafeMutableBufferPointer { inPtr in
                stream.next_in = inPtr.baseAddress
                stream.avail_in = UInt32(n)
                while stream.avail_in > 0 {
                    if !inMember { inMember = true }
                    let (code, produced) = outBuffer.withUnsafeMutableBufferPointer { outPtr -> (Int32, Int) in
                        stream.next_out = outPtr.baseAddress
                        stream.avail_out = UInt32(outPtr.count)
                        let code = inflate(&stream, Z_NO_FLUSH)
                        return (code, outPtr.count - Int(stream.avail_out))
                    }
                    if produced > 0 {
                        try outBuffer.withUnsafeBytes { out in
                            let slice = UnsafeRawBufferPointer(rebasing: out.prefix(produced))
                            imageHash.update(slice)
                            if let write { try write(slice) }
                        }
                        imageBytes += Int64(produced)
                    }
                    switch code {
                    case Z_STREAM_END:
                        inMember = false
                        inflateReset(&stream)
                    case Z_OK, Z_BUF_ERROR:
                        if code == Z_BUF_ERROR && produced == 0 && stream.avail_in > 0 {
                            throw GzipError.corrupt("zlib made no progress")
                        }
                    default:
                        throw GzipError.corrupt(stream.msg.map { String(cString: $0) } ?? String(cString: zError(code)))
                    }
                }
            }
            progress?(offset, total)
        }
        if inMember { throw GzipError.truncated }
        if offset == 0 { throw GzipError.truncated }
        return ImageDigest(imageSHA256: imageHash.finalizeHex(), imageBytes: imageBytes,
                           compressedSHA256: compressedHash.finalizeHex(), compressedBytes: offset)
    }

    /// Reads until `buffer` is full or the input ends; returns the count (0 at the end).
    static func readFully(_ read: Reader, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), offset + Int64(done))
            if n == 0 { break }
            done += n
        }
        return done
    }
}
