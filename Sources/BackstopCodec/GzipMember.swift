import CDeflate
import Foundation

/// The gzip members Backstop writes: standard gzip (RFC 1952), one member per block of the image,
/// each carrying an extra field (subfield `BK`) with the member's compressed and uncompressed size.
/// `gzip -dc` ignores the field and concatenates the members; Backstop uses it to find member
/// boundaries without inflating, so blocks can be decompressed on several cores.
///
/// Layout: 10-byte header with FEXTRA, XLEN=12, subfield `B` `K` LEN=8, member size (UInt32 LE),
/// block size (UInt32 LE), raw DEFLATE data, CRC-32, ISIZE.
public enum GzipMember {
    public static let headerSize = 24
    public static let trailerSize = 8
    static let magic: [UInt8] = [0x1f, 0x8b, 0x08, 0x04]

    /// Sizes read from a Backstop member header, or nil if the header is not Backstop's.
    public static func parseHeader(_ header: UnsafeRawBufferPointer) -> (memberSize: Int, blockSize: Int)? {
        guard header.count >= headerSize,
              header[0] == 0x1f, header[1] == 0x8b, header[2] == 0x08, header[3] == 0x04,
              header[10] == 12, header[11] == 0, header[12] == UInt8(ascii: "B"), header[13] == UInt8(ascii: "K"),
              header[14] == 8, header[15] == 0 else { return nil }
        let memberSize = Int(readLE32(header, 16))
        let blockSize = Int(readLE32(header, 20))
        guard memberSize >= headerSize + trailerSize else { return nil }
        return (memberSize, blockSize)
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
            for (i, byte) in GzipMember.magic.enumerated() { out[i] = byte }
            // MTIME 0, XFL 0, OS 255 (unknown)
            out[4] = 0; out[5] = 0; out[6] = 0; out[7] = 0; out[8] = 0; out[9] = 255
            out[10] = 12; out[11] = 0
            out[12] = UInt8(ascii: "B"); out[13] = UInt8(ascii: "K"); out[14] = 8; out[15] = 0
            GzipMember.writeLE32(UInt32(memberSize), into: out, at: 16)
            GzipMember.writeLE32(UInt32(block.count), into: out, at: 20)
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

public enum GzipError: Error, CustomStringConvertible {
    case corrupt(String)
    case truncated

    public var description: String {
        switch self {
        case .corrupt(let what): return "the gzip data is corrupt: \(what)"
        case .truncated: return "the gzip data is truncated"
        }
    }
}
