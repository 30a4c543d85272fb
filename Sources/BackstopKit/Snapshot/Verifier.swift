import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// The outcome of verifying one snapshot.
public struct VerificationResult: Sendable {
    public var manifest: Manifest
    public var deep: Bool
    /// Empty when the snapshot is sound.
    public var problems: [String]
    public var ok: Bool { problems.isEmpty }
}

/// Checks snapshots: the stored file against its checksum and size, and with `deep` also the
/// decompressed image against its checksum and SQLite's `PRAGMA integrity_check`.
public enum Verifier {
    public static func verify(_ manifest: Manifest, in store: SnapshotStore, deep: Bool,
                              progress: PhaseProgress? = nil) -> VerificationResult {
        var result = VerificationResult(manifest: manifest, deep: deep, problems: [])
        let dataPath = store.dataPath(manifest)
        guard let size = FileSystem.size(dataPath) else {
            result.problems.append("the data file \(manifest.file) is missing")
            return result
        }
        if size != manifest.compressedBytes {
            result.problems.append(size < manifest.compressedBytes
                ? "the file is truncated: \(size) bytes, the manifest says \(manifest.compressedBytes)"
                : "the file has \(size) bytes, the manifest says \(manifest.compressedBytes)")
        }
        if !deep {
            do {
                let hashed = try ImageFiles.sha256(path: dataPath, progress: progress.map { p in { p(.checking, $0, $1) } })
                if hashed.sha256 != manifest.compressedSha256 {
                    result.problems.append("the file's SHA-256 does not match the manifest (the file changed or is damaged)")
                }
            } catch {
                result.problems.append("cannot read the file: \(error)")
            }
            return result
        }
        // Deep: decompress into a private temporary image, compare checksums, then integrity_check.
        let imagePath = store.temporaryPath(for: "verify-image")
        defer { Snapshotter.removeDatabaseFiles(imagePath) }
        do {
            try checkedImage(manifest, in: store, to: imagePath, progress: progress)
            let database = try Database(path: imagePath, mode: .readWrite)
            let problems = try database.integrityProblems()
            if !problems.isEmpty {
                result.problems.append("PRAGMA integrity_check failed: " + problems.prefix(3).joined(separator: "; "))
            }
        } catch let error as BackstopError {
            if case .verificationFailed(_, let reason) = error { result.problems.append(reason) }
            else { result.problems.append(error.description) }
        } catch {
            result.problems.append("\(error)")
        }
        return result
    }

    /// Decompresses a snapshot into a new private file at `imagePath`, checking the compressed file's
    /// checksum, the image's checksum and its size. Throws ``BackstopError/verificationFailed(id:reason:)``.
    public static func checkedImage(_ manifest: Manifest, in store: SnapshotStore, to imagePath: String,
                                    progress: PhaseProgress? = nil) throws {
        let fd = try FileSystem.createExclusive(imagePath)
        defer { close(fd) }
        let digest: ImageDigest
        do {
            digest = try ImageFiles.decompress(path: store.dataPath(manifest), to: fd, outputPath: imagePath,
                                               progress: progress.map { p in { p(.decompressing, $0, $1) } })
        } catch let error as GzipError {
            throw BackstopError.verificationFailed(id: manifest.id, reason: error.description)
        } catch let error as BackstopError {
            if case .io(_, _, let code) = error, code == ENOENT {
                throw BackstopError.verificationFailed(id: manifest.id, reason: "the data file \(manifest.file) is missing")
            }
            throw error
        }
        var problems: [String] = []
        if digest.compressedSHA256 != manifest.compressedSha256 {
            problems.append("the file's SHA-256 does not match the manifest")
        }
        if digest.imageBytes != manifest.dbBytes {
            problems.append("the image has \(digest.imageBytes) bytes, the manifest says \(manifest.dbBytes)")
        }
        if digest.imageSHA256 != manifest.sha256 {
            problems.append("the image's SHA-256 does not match the manifest")
        }
        if !problems.isEmpty {
            throw BackstopError.verificationFailed(id: manifest.id, reason: problems.joined(separator: "; "))
        }
        guard fsync(fd) == 0 else { throw BackstopError.posix("flush", imagePath) }
    }
}
