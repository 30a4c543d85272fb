import BackstopCodec
import BackstopCore
import Foundation

/// The codec over files: hashing a stored file, compressing a file, decompressing a snapshot file.
public enum ImageFiles {
    /// SHA-256 and size of a file as stored (a compressed snapshot, or an image), read in 1 MiB pieces.
    public static func sha256(path: String, progress: ProgressHandler? = nil) throws -> (sha256: String, bytes: Int64) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw BackstopError.posix("open", path) }
        defer { close(fd) }
        let total = FileSystem.size(path) ?? 0
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var bytes: Int64 = 0
        while true {
            let n = try buffer.withUnsafeMutableBytes { try FileSystem.readFully(fd, $0, at: bytes, path: path) }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            bytes += Int64(n)
            progress?(bytes, total)
        }
        return (hasher.finalizeHex(), bytes)
    }

    /// Compresses the file at `path` into `output` (an open, empty file descriptor).
    public static func compress(path: String, to output: Int32, outputPath: String, level: Int,
                                workers: Int = ImageCodec.defaultWorkers, progress: ProgressHandler? = nil) throws -> ImageDigest {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw BackstopError.posix("open", path) }
        defer { close(input) }
        return try ImageCodec.compress(
            total: FileSystem.size(path) ?? 0, level: level, workers: workers,
            read: { buffer, offset in try FileSystem.readFully(input, buffer, at: offset, path: path) },
            write: { bytes in try FileSystem.writeAll(output, bytes, path: outputPath) }, progress: progress)
    }

    /// Decompresses the gzip file at `path`, writing the image to `output` (or nowhere when nil).
    public static func decompress(path: String, to output: Int32?, outputPath: String = "",
                                  workers: Int = ImageCodec.defaultWorkers, progress: ProgressHandler? = nil) throws -> ImageDigest {
        let input = open(path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw BackstopError.posix("open", path) }
        defer { close(input) }
        return try ImageCodec.decompress(
            total: FileSystem.size(path) ?? 0, workers: workers,
            read: { buffer, offset in try FileSystem.readFully(input, buffer, at: offset, path: path) },
            write: output.map { fd in { bytes in try FileSystem.writeAll(fd, bytes, path: outputPath) } },
            progress: progress)
    }
}
