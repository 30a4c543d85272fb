import CDeflate
import Foundation

/// The gzip members Backstop writes: standard gzip (RFC 1952), one member per block of the image,
/// each carrying an extra field (subfield `BK`) with the member's compressed and uncompressed size.
/// `gzip -dc` ignores the field and concatenates the members; Backstop uses it to find member
/// boundaries without inflating, so blocks can be decompressed on several cores and read in place.
///
/// Data member: 10-byte header with FEXTRA, XLEN=12, subfield `B` `K` LEN=8, member size (UInt32 LE),
/// block size (UInt32 LE), raw DEFLATE data, CRC-32, ISIZE.
///
/// After the data members come two members that decompress to nothing, so `gzip -dc` still yields
/// exactly the image: an index (block size 0, FCOMMENT `backstop-index/1 BLOCK LAST SIZE,SIZE,...`, the
/// compressed size of every data member) and a fixed 46-byte trailer (block size 0, a second subfield
/// `B` `T` LEN=8 with the index's offset). A reader finds any block from the last 46 bytes and the
/// index, in two reads; files written before the index existed are read by walking the headers.
public enum GzipMember {
    public static let headerSize = 24
    public static let trailerSize = 8
    /// Size of the trailer member that ends a file.
    public static let endTrailerSize = 46
    public static let indexMagic = "backstop-index/1 "
    static let magic: [UInt8] = [0x1f, 0x8b, 0x08, 0x04]
    /// The largest block a member may describe (Backstop writes 1 MiB blocks).
    public static let maxBlockSize = 64 << 20

    /// What a member header says.
    public struct Header: Equatable, Sendable {
        public var memberSize: Int
        /// Uncompressed bytes; 0 for the index and trailer members.
        public var blockSize: Int
        /// Where the DEFLATE data starts, relative to the member.
        public var dataOffset: Int
        public var hasComment: Bool
        /// For the trailer member: the offset of the index member.
        public var indexOffset: Int64?
    }

    /// Parses a member header from the first `header.count` bytes (at least 24; 36 to recognise the
    /// trailer), or nil when it is not a Backstop member.
    public static func parseHeader(_ h: UnsafeRawBufferPointer) -> Header? {
        guard h.count >= headerSize, h[0] == 0x1f, h[1] == 0x8b, h[2] == 0x08 else { return nil }
        let flags = h[3]
        guard flags & 0x04 != 0, flags & ~0x14 == 0 else { return nil }
        let xlen = Int(h[10]) | Int(h[11]) << 8
        guard xlen >= 12, h[12] == UInt8(ascii: "B"), h[13] == UInt8(ascii: "K"), h[14] == 8, h[15] == 0 else { return nil }
        var header = Header(memberSize: Int(readLE32(h, 16)), blockSize: Int(readLE32(h, 20)), dataOffset: 12 + xlen,
                            hasComment: flags & 0x10 != 0, indexOffset: nil)
        if xlen == 24, h.count >= 36, h[24] == UInt8(ascii: "B"), h[25] == UInt8(ascii: "T"), h[26] == 8, h[27] == 0,
           header.blockSize == 0 {
            header.indexOffset = Int64(readLE32(h, 28)) | Int64(readLE32(h, 32)) << 32
        }
        guard header.memberSize >= header.dataOffset + trailerSize, header.blockSize <= maxBlockSize,
              !(header.hasComment && header.blockSize != 0) else { return nil }
        return header
    }

    /// The index member for data members of these compressed sizes (every block `blockSize` bytes but
    /// the last, which has `lastBlockSize`).
    public static func indexMember(blockSize: Int, lastBlockSize: Int, memberSizes: [Int]) -> [UInt8] {
        let comment = Array((indexMagic + "\(blockSize) \(lastBlockSize) " + memberSizes.map(String.init).joined(separator: ",")).utf8) + [0]
        let size = headerSize + comment.count + 2 + trailerSize
        var member = [UInt8](repeating: 0, count: size)
        member.withUnsafeMutableBytes { out in
            writeHeader(into: out, flags: 0x14, xlen: 12, memberSize: size, blockSize: 0)
            out.baseAddress!.advanced(by: headerSize).copyMemory(from: comment, byteCount: comment.count)
            out[headerSize + comment.count] = 0x03   // an empty final fixed-Huffman DEFLATE block
            out[headerSize + comment.count + 1] = 0x00
        }
        return member
    }

    /// The trailer member pointing at the index member at `indexOffset`.
    public static func endTrailer(indexOffset: Int64) -> [UInt8] {
        var member = [UInt8](repeating: 0, count: endTrailerSize)
        member.withUnsafeMutableBytes { out in
            writeHeader(into: out, flags: 0x04, xlen: 24, memberSize: endTrailerSize, blockSize: 0)
            out[24] = UInt8(ascii: "B"); out[25] = UInt8(ascii: "T"); out[26] = 8; out[27] = 0
            writeLE32(UInt32(truncatingIfNeeded: indexOffset), into: out, at: 28)
            writeLE32(UInt32(truncatingIfNeeded: indexOffset >> 32), into: out, at: 32)
            out[36] = 0x03; out[37] = 0x00
        }
        return member
    }

    /// Parses an index member's comment: the compressed size of every data member, and the block sizes.
    public static func parseIndex(_ member: UnsafeRawBufferPointer, header: Header) -> (blockSize: Int, lastBlockSize: Int, memberSizes: [Int])? {
        guard header.hasComment, header.blockSize == 0, member.count == header.memberSize else { return nil }
        let commentBytes = member[header.dataOffset...].prefix { $0 != 0 }
        guard let text = String(bytes: commentBytes, encoding: .ascii), text.hasPrefix(indexMagic) else { return nil }
        let parts = text.dropFirst(indexMagic.count).split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 3, let block = Int(parts[0]), let last = Int(parts[1]), block > 0, block <= maxBlockSize,
              last >= 0, last <= block else { return nil }
        var sizes: [Int] = []
        if !parts[2].isEmpty {
            for part in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                guard let size = Int(part), size >= headerSize + trailerSize else { return nil }
                sizes.append(size)
            }
        }
        return (block, last, sizes)
    }

    static func writeHeader(into out: UnsafeMutableRawBufferPointer, flags: UInt8, xlen: Int, memberSize: Int, blockSize: Int) {
        out[0] = 0x1f; out[1] = 0x8b; out[2] = 0x08; out[3] = flags
        // MTIME 0, XFL 0, OS 255 (unknown)
        out[4] = 0; out[5] = 0; out[6] = 0; out[7] = 0; out[8] = 0; out[9] = 255
        out[10] = UInt8(xlen & 0xff); out[11] = UInt8(xlen >> 8)
        out[12] = UInt8(ascii: "B"); out[13] = UInt8(ascii: "K"); out[14] = 8; out[15] = 0
        writeLE32(UInt32(memberSize), into: out, at: 16)
        writeLE32(UInt32(blockSize), into: out, at: 20)
    }

    static func readLE32(_ buffer: UnsafeRawBufferPointer, _ offset: Int) -> UInt32 {
        UInt32(buffer[offset]) | UInt32(buffer[offset + 1]) << 8 | UInt32(buffer[offset + 2]) << 16 | UInt32(buffer[offset + 3]) << 24
    }

    static func writeLE32(_ value: UInt32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int) {
        buffer[offset] = UInt8(value & 0xff)
        buffer[offset + 1] = UInt8((value >> 8) & 0xff)
        buffer[offset + 2] = UInt8((value >> 16) & 0xff)
        buffer[offset + 3] = UInt8((value >> 24) & 0xff)
    }
}

/// Compresses blocks into Backstop gzip members. Not thread-safe: one per worker.
public final class GzipMemberCompressor {
    private let compressor: OpaquePointer

    public init(level: Int) {
        compressor = libdeflate_alloc_compressor(Int32(level))!
    }

    deinit { libdeflate_free_compressor(compressor) }

    /// One complete gzip member holding `block`.
    public func member(for block: UnsafeRawBufferPointer) -> [UInt8] {
        let bound = libdeflate_deflate_compress_bound(compressor, block.count)
        let capacity = GzipMember.headerSize + bound + GzipMember.trailerSize
        var output = [UInt8](repeating: 0, count: capacity)
        let used = output.withUnsafeMutableBytes { out -> Int in
            let deflated = libdeflate_deflate_compress(compressor, block.baseAddress, block.count,
                                                       out.baseAddress! + GzipMember.headerSize, bound)
            precondition(deflated > 0, "libdeflate's bound was too small")
            let memberSize = GzipMember.headerSize + deflated + GzipMember.trailerSize
            GzipMember.writeHeader(into: out, flags: 0x04, xlen: 12, memberSize: memberSize, blockSize: block.count)
            let crc = libdeflate_crc32(0, block.baseAddress, block.count)
            GzipMember.writeLE32(crc, into: out, at: GzipMember.headerSize + deflated)
            GzipMember.writeLE32(UInt32(truncatingIfNeeded: block.count), into: out, at: GzipMember.headerSize + deflated + 4)
            return memberSize
        }
        output.removeLast(capacity - used)
        return output
    }
}

/// Decompresses Backstop gzip members. Not thread-safe: one per worker.
public final class GzipMemberDecompressor {
    private let decompressor: OpaquePointer

    public init() { decompressor = libdeflate_alloc_decompressor()! }
    deinit { libdeflate_free_decompressor(decompressor) }

    /// The block inside `member` (header included), with its CRC-32 and size checked.
    public func block(from member: [UInt8], blockSize: Int) throws -> [UInt8] {
        var output = [UInt8](repeating: 0, count: blockSize)
        try member.withUnsafeBytes { input in
            let deflateCount = input.count - GzipMember.headerSize - GzipMember.trailerSize
            guard deflateCount >= 0 else { throw GzipError.corrupt("a member is shorter than its header") }
            var produced = 0
            let result = output.withUnsafeMutableBytes { out in
                libdeflate_deflate_decompress(decompressor, input.baseAddress! + GzipMember.headerSize, deflateCount,
                                              out.baseAddress, blockSize, &produced)
            }
            guard result == LIBDEFLATE_SUCCESS, produced == blockSize else {
                throw GzipError.corrupt("compressed data is damaged")
            }
            let expectedCRC = GzipMember.readLE32(input, input.count - 8)
            let expectedSize = GzipMember.readLE32(input, input.count - 4)
            let crc = output.withUnsafeBytes { libdeflate_crc32(0, $0.baseAddress, blockSize) }
            guard crc == expectedCRC, expectedSize == UInt32(truncatingIfNeeded: blockSize) else {
                throw GzipError.corrupt("a block's CRC-32 does not match")
            }
        }
        return output
    }
}

public enum GzipError: Error, CustomStringConvertible, Sendable, Equatable {
    case corrupt(String)
    case truncated
    /// The stream decompresses to more than the image may hold.
    case tooLarge(limit: Int64)

    public var description: String {
        switch self {
        case .corrupt(let what): return "the gzip data is corrupt: \(what)"
        case .truncated: return "the gzip data is truncated"
        case .tooLarge(let limit): return "the gzip data decompresses to more than the \(limit) bytes its manifest describes; decompression was stopped"
        }
    }
}
