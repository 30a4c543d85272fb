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
/// Memory is bounded by the chunk size times the window, whatever the size of the image.
public enum ImageCodec {
    /// Size of one block of the image; each becomes one gzip member. Small enough that reading one page
    /// of a snapshot in place inflates little (128 KiB), large enough that files stay as small as gzip -6's.
    public static let blockSize = 128 << 10
    /// What one worker handles at a time: several blocks, so threads hand over work rarely.
    public static let chunkSize = 1 << 20
    public static var defaultWorkers: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Reads up to `buffer.count` bytes of the input at an offset; returns how many (0 at the end).
    public typealias Reader = (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Int
    /// Takes the next piece of output, in order.
    public typealias Writer = (_ bytes: UnsafeRawBufferPointer) throws -> Void

    /// Compresses the image that `read` yields (`total` bytes, for progress) into members passed to `write`
    /// in order, hashing both sides.
    public static func compress(total: Int64, level: Int, workers: Int = defaultWorkers, read: Reader, write: Writer,
                                progress: ProgressHandler? = nil) throws -> ImageDigest {
        let compressor = ImageCompressor(level: level, workers: workers)
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var offset: Int64 = 0
        while true {
            let n = try chunk.withUnsafeMutableBytes { try readFully(read, $0, at: offset) }
            if n == 0 { break }
            try chunk.withUnsafeBytes { try compressor.append(UnsafeRawBufferPointer(rebasing: $0.prefix(n)), write: write) }
            offset += Int64(n)
            progress?(compressor.imageBytes, total)
        }
        return try compressor.finish(write: write)
    }

    /// Decompresses the gzip stream that `read` yields (`total` bytes), passing the image to `write` (or
    /// nowhere when nil), and returns the checksums of both sides. Members written by Backstop are
    /// inflated on all cores, and their index and trailer checked against them; any other gzip stream is
    /// inflated with zlib on one. Decompression stops with ``GzipError/tooLarge(limit:)`` as soon as the
    /// image would pass `limit` bytes (a forged manifest or file cannot fill a disk).
    public static func decompress(total: Int64, limit: Int64? = nil, workers: Int = defaultWorkers, read: Reader,
                                  write: Writer?, progress: ProgressHandler? = nil) throws -> ImageDigest {
        var first = [UInt8](repeating: 0, count: GzipMember.headerSize)
        let headerCount = try first.withUnsafeMutableBytes { try readFully(read, $0, at: 0) }
        let isBackstopFormat = headerCount == GzipMember.headerSize
            && first.withUnsafeBytes({ GzipMember.parseHeader($0) }) != nil
        if !isBackstopFormat {
            return try inflateWithZlib(read: read, total: total, limit: limit, write: write, progress: progress)
        }

        return try withoutActuallyEscaping(read) { read in
            try decompressMembers(total: total, limit: limit, workers: workers, read: read, write: write, progress: progress)
        }
    }

    private static func decompressMembers(total: Int64, limit: Int64?, workers: Int, read: @escaping Reader,
                                          write: Writer?, progress: ProgressHandler?) throws -> ImageDigest {
        let imageHash = SHA256Hasher()
        let compressedHash = SHA256Hasher()
        var reader = MemberReader(read: read, limit: limit, hash: compressedHash)
        var imageBytes: Int64 = 0
        try OrderedPipeline<GzipMemberDecompressor, [([UInt8], Int)], [UInt8]>.run(
            workers: workers, window: workers * 3,
            makeContext: { GzipMemberDecompressor() },
            produce: {
                // About a chunk's worth of members per item.
                var batch: [([UInt8], Int)] = []
                var bytes = 0
                while bytes < chunkSize, let member = try reader.nextDataMember() {
                    batch.append(member)
                    bytes += member.1
                }
                return batch.isEmpty ? nil : batch
            },
            transform: { decompressor, batch in
                var image: [UInt8] = []
                image.reserveCapacity(batch.reduce(0) { $0 + $1.1 })
                for (member, blockSize) in batch { image += try decompressor.block(from: member, blockSize: blockSize) }
                return image
            },
            consume: { (image: [UInt8]) in
                imageHash.update(image)
                if let write { try image.withUnsafeBytes { try write($0) } }
                imageBytes += Int64(image.count)
                progress?(reader.offset, total)
            })
        try reader.finish()
        return ImageDigest(imageSHA256: imageHash.finalizeHex(), imageBytes: imageBytes,
                           compressedSHA256: compressedHash.finalizeHex(), compressedBytes: reader.offset)
    }

    /// Single-threaded zlib inflate of any (multi-member) gzip stream.
    private static func inflateWithZlib(read: Reader, total: Int64, limit: Int64?, write: Writer?,
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
                        if let limit, imageBytes + Int64(produced) > limit { throw GzipError.tooLarge(limit: limit) }
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

/// Walks the members of a Backstop file in order: hands out data members, hashes every byte, and checks
/// the index and trailer against the data members before them.
struct MemberReader {
    let read: ImageCodec.Reader
    let limit: Int64?
    let hash: SHA256Hasher
    private(set) var offset: Int64 = 0
    private var described: Int64 = 0
    private var dataMembers: [Int] = []
    private var indexOffset: Int64?
    private var ended = false

    init(read: @escaping ImageCodec.Reader, limit: Int64?, hash: SHA256Hasher) {
        self.read = read
        self.limit = limit
        self.hash = hash
    }

    /// The next data member and its block size, or nil at the end of the file.
    mutating func nextDataMember() throws -> ([UInt8], Int)? {
        while true {
            var header = [UInt8](repeating: 0, count: 36)
            let n = try header.withUnsafeMutableBytes { try ImageCodec.readFully(read, $0, at: offset) }
            if n == 0 { return nil }
            if ended { throw GzipError.corrupt("data follows the trailer at byte \(offset)") }
            guard n >= GzipMember.headerSize else { throw GzipError.truncated }
            guard let parsed = header.withUnsafeBytes({ GzipMember.parseHeader(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }),
                  parsed.memberSize <= GzipMember.maxBlockSize + (1 << 20) else {
                throw GzipError.corrupt("unexpected data at byte \(offset)")
            }
            if parsed.blockSize > 0 {
                guard parsed.dataOffset == GzipMember.headerSize, indexOffset == nil else {
                    throw GzipError.corrupt("unexpected member at byte \(offset)")
                }
                described += Int64(parsed.blockSize)
                if let limit, described > limit { throw GzipError.tooLarge(limit: limit) }
            }
            var member = [UInt8](repeating: 0, count: parsed.memberSize)
            let got = try member.withUnsafeMutableBytes { try ImageCodec.readFully(read, $0, at: offset) }
            guard got == parsed.memberSize else { throw GzipError.truncated }
            hash.update(member)
            let memberOffset = offset
            offset += Int64(got)
            if parsed.blockSize > 0 {
                dataMembers.append(parsed.memberSize)
                return (member, parsed.blockSize)
            }
            // A member that decompresses to nothing: the index, the trailer, or an empty image's only member.
            try member.withUnsafeBytes { bytes in
                if parsed.hasComment {
                    guard indexOffset == nil, let index = GzipMember.parseIndex(bytes, header: parsed), index.memberSizes == dataMembers,
                          Int64(max(0, index.memberSizes.count - 1)) * Int64(index.blockSize)
                            + Int64(index.memberSizes.isEmpty ? 0 : index.lastBlockSize) == described
                    else { throw GzipError.corrupt("the index member at byte \(memberOffset) does not match the data before it") }
                    indexOffset = memberOffset
                } else if let pointer = parsed.indexOffset {
                    guard pointer == indexOffset, parsed.memberSize == GzipMember.endTrailerSize else {
                        throw GzipError.corrupt("the trailer at byte \(memberOffset) does not point at the index")
                    }
                    ended = true
                }
            }
        }
    }

    /// A file that has an index must end with its trailer.
    func finish() throws {
        if indexOffset != nil && !ended { throw GzipError.truncated }
    }
}

/// Compresses an image pushed to it in pieces of any size: cuts it into chunks that workers compress as
/// members of ``ImageCodec/blockSize`` on all cores, writes the members in order, hashing both sides;
/// `finish` adds the index and trailer.
public final class ImageCompressor {
    private let pipeline: OrderedPipeline<GzipMemberCompressor, [UInt8], ([UInt8], [UInt8], [Int])>
    private let imageHash = SHA256Hasher()
    private let compressedHash = SHA256Hasher()
    private var chunk: [UInt8] = []
    private var memberSizes: [Int] = []
    private var lastBlockSize = 0
    /// Image bytes compressed and written so far.
    public private(set) var imageBytes: Int64 = 0
    public private(set) var compressedBytes: Int64 = 0

    public init(level: Int, workers: Int = ImageCodec.defaultWorkers) {
        pipeline = OrderedPipeline(
            workers: workers, window: max(1, workers) * 3,
            makeContext: { GzipMemberCompressor(level: level) },
            transform: { compressor, chunk in
                var members: [UInt8] = []
                var sizes: [Int] = []
                chunk.withUnsafeBytes { raw in
                    var start = 0
                    while start < raw.count {
                        let end = min(start + ImageCodec.blockSize, raw.count)
                        let member = compressor.member(for: UnsafeRawBufferPointer(rebasing: raw[start..<end]))
                        members += member
                        sizes.append(member.count)
                        start = end
                    }
                }
                return (chunk, members, sizes)
            })
        chunk.reserveCapacity(ImageCodec.chunkSize)
    }

    /// Takes the next bytes of the image.
    public func append(_ bytes: UnsafeRawBufferPointer, write: ImageCodec.Writer) throws {
        var rest = bytes
        while !rest.isEmpty {
            let take = min(rest.count, ImageCodec.chunkSize - chunk.count)
            chunk.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest.prefix(take)))
            rest = UnsafeRawBufferPointer(rebasing: rest.dropFirst(take))
            if chunk.count == ImageCodec.chunkSize { try submitChunk(write: write) }
        }
    }

    private func submitChunk(write: ImageCodec.Writer) throws {
        let full = chunk
        chunk = []
        chunk.reserveCapacity(ImageCodec.chunkSize)
        try pipeline.submit(full) { try self.consume($0, write: write) }
    }

    private func consume(_ output: ([UInt8], [UInt8], [Int]), write: ImageCodec.Writer) throws {
        let (chunk, members, sizes) = output
        imageHash.update(chunk)
        try emit(members, write: write)
        memberSizes += sizes
        lastBlockSize = (chunk.count - 1) % ImageCodec.blockSize + 1
        imageBytes += Int64(chunk.count)
    }

    private func emit(_ bytes: [UInt8], write: ImageCodec.Writer) throws {
        compressedHash.update(bytes)
        try bytes.withUnsafeBytes { try write($0) }
        compressedBytes += Int64(bytes.count)
    }

    /// Compresses what is left, writes the index and the trailer, and returns the checksums.
    public func finish(write: ImageCodec.Writer) throws -> ImageDigest {
        if !chunk.isEmpty { try submitChunk(write: write) }
        try pipeline.finish { try self.consume($0, write: write) }
        let indexOffset = compressedBytes
        try emit(GzipMember.indexMember(blockSize: ImageCodec.blockSize, lastBlockSize: lastBlockSize, memberSizes: memberSizes),
                 write: write)
        try emit(GzipMember.endTrailer(indexOffset: indexOffset), write: write)
        return ImageDigest(imageSHA256: imageHash.finalizeHex(), imageBytes: imageBytes,
                           compressedSHA256: compressedHash.finalizeHex(), compressedBytes: compressedBytes)
    }
}
