import CCrypto
import CZlib
import Foundation

/// One-shot digests that other tools record for their migrations (sqlx's SHA-384, Flyway's CRC-32).
public enum Digests {
    /// SHA-384 of `data` (48 bytes).
    public static func sha384(_ data: Data) -> [UInt8] {
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        EVP_DigestInit_ex(context, EVP_sha384(), nil)
        data.withUnsafeBytes { raw in
            if let base = raw.baseAddress, raw.count > 0 { EVP_DigestUpdate(context, base, raw.count) }
        }
        var digest = [UInt8](repeating: 0, count: 48)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context, &digest, &length)
        return Array(digest.prefix(Int(length)))
    }

    /// A running CRC-32 (IEEE, as zlib and java.util.zip.CRC32 compute it).
    public struct CRC32 {
        public private(set) var value: UInt32 = 0
        public init() {}
        public mutating func update(_ bytes: [UInt8]) {
            value = bytes.withUnsafeBufferPointer { buffer in
                UInt32(crc32(uLong(value), buffer.baseAddress, uInt(buffer.count)))
            }
        }
    }
}
