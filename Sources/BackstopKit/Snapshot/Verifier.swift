import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// The outcome of verifying one snapshot.
public struct VerificationResult: Sendable {
    public enum Status: Sendable, Equatable {
        /// Everything checked is as the manifest says.
        case ok
        /// The snapshot is damaged: do not restore from it.
        case failed
        /// The snapshot disappeared (pruned) before it could be read: not damage.
        case gone
        /// The stored file is intact, but the deep check could not run: the snapshot is encrypted and no
        /// key given decrypts it. Not damage, and not a pass.
        case cannotDecrypt
        /// The snapshot could not be read: its replica did not answer, or refused. Not damage, not a pass.
        case unreadable
    }

    public var manifest: Manifest
    public var deep: Bool
    public var status: Status
    /// Why it failed (empty when it did not).
    public var problems: [String]
    /// What a deep check could not cover (collations or functions the application defines).
    public var notChecked: [String]
    /// Worth knowing without being a failure (for example, the database failed quick_check when taken).
    public var notes: [String]
    public var ok: Bool { status == .ok }
}

/// Checks snapshots: the stored file against its size and checksum, and with `deep` also the image
/// decompressed in a stream (both checksums, its size) and SQLite's `PRAGMA integrity_check` on the
/// snapshot read in place. Nothing is written anywhere: a read-only store or a full disk is fine.
public enum Verifier {
    public static func verify(_ manifest: Manifest, in repository: any SnapshotRepository, deep: Bool,
                              progress: PhaseProgress? = nil) -> VerificationResult {
        var result = VerificationResult(manifest: manifest, deep: deep, status: .ok, problems: [], notChecked: [], notes: [])
        if let check = manifest.check {
            if check.failed {
                result.notes.append("the database already failed \(check.method) when this snapshot was taken: \(check.problems.prefix(3).joined(separator: "; "))")
            } else if check.ok == nil {
                result.notes.append("\(check.method) could not run when this snapshot was taken: \(check.problems.first ?? "unknown reason")")
            }
        }
        // What the store holds of the file without reading it (a replica: its size and the checksum the
        // server holds); when that settles it, nothing is downloaded.
        if !deep {
            let summary: StoredSummary?
            do { summary = try repository.storedSummary(manifest) } catch {
                result.status = (error as? BackstopError).map(status(of:)) ?? .failed
                result.problems.append("\(error)")
                return result
            }
            if let summary, summary.size != manifest.compressedBytes {
                result.problems.append("the object has \(summary.size) bytes, the manifest says \(manifest.compressedBytes)")
            } else if let sha = summary?.sha256, sha != manifest.compressedSha256 {
                result.problems.append("the object's SHA-256 on the server does not match the manifest (the object changed or is damaged)")
            } else if summary?.sha256 != nil {
                return result
            }
            if !result.problems.isEmpty { result.status = .failed; return result }
            // No checksum held: read the file and hash it, below.
        }
        // The stored file: its size and checksum (no key needed, even when it is encrypted).
        do {
            let stored = try repository.openStored(manifest)
            defer { stored.close() }
            if stored.size != manifest.compressedBytes {
                result.problems.append(stored.size < manifest.compressedBytes
                    ? "the file is truncated: \(stored.size) bytes, the manifest says \(manifest.compressedBytes)"
                    : "the file has \(stored.size) bytes, the manifest says \(manifest.compressedBytes)")
            } else if !deep || manifest.encryption != nil {
                // Deep checks of plain files hash the stored file as they decompress it; encrypted ones
                // are hashed here, so that a missing key still leaves the file checked.
                if try hashStored(stored, progress: progress.map { p in { p(.checking, $0, $1) } }) != manifest.compressedSha256 {
                    result.problems.append("the file's SHA-256 does not match the manifest (the file changed or is damaged)")
                }
            }
        } catch let error as BackstopError {
            result.status = status(of: error)
            result.problems.append(error.description)
            return result
        } catch {
            result.status = .failed
            result.problems.append("\(error)")
            return result
        }
        guard deep, result.problems.isEmpty else {
            if !result.problems.isEmpty { result.status = .failed }
            return result
        }
        do {
            let file = try SnapshotFile(manifest, in: repository)
            try file.decompressChecked(write: nil, progress: progress.map { p in { p(.decompressing, $0, $1) } })
            progress?(.checkingImage, 0, 1)
            // integrity_check looks rows up in every index: random reads, so a larger block cache.
            let db = try file.openDatabase(cacheBytes: 32 << 20)
            let report = IntegrityCheck.run(on: db, quick: false)
            progress?(.checkingImage, 1, 1)
            result.notChecked = report.notChecked
            if let reason = report.couldNotRun {
                result.notChecked.append("PRAGMA integrity_check could not run: \(reason)")
            } else if !report.problems.isEmpty {
                result.problems.append("PRAGMA integrity_check failed: " + report.problems.prefix(3).joined(separator: "; "))
            }
        } catch let error as BackstopError {
            switch error {
            case .cannotDecrypt:
                result.status = .cannotDecrypt
                result.notChecked.append(error.description)
                return result
            case .snapshotGone, .remote:
                result.status = status(of: error)
                result.problems.append(error.description)
                return result
            case .verificationFailed(_, let reason): result.problems.append(reason)
            default: result.problems.append(error.description)
            }
        } catch {
            result.problems.append("\(error)")
        }
        if !result.problems.isEmpty { result.status = .failed }
        return result
    }

    /// What an error that stopped the check says of the snapshot.
    static func status(of error: BackstopError) -> VerificationResult.Status {
        switch error {
        case .snapshotGone: return .gone
        case .remote: return .unreadable
        default: return .failed
        }
    }

    /// SHA-256 of a file as stored, read in 1 MiB pieces.
    static func hashStored(_ stored: SnapshotBytes, bufferBytes: Int = 1 << 20, progress: ProgressHandler?) throws -> String {
        let hasher = SHA256Hasher()
        var buffer = [UInt8](repeating: 0, count: bufferBytes)
        var offset: Int64 = 0
        while offset < stored.size {
            let n = Int(min(Int64(buffer.count), stored.size - offset))
            try buffer.withUnsafeMutableBytes { try stored.read(UnsafeMutableRawBufferPointer(rebasing: $0[0..<n]), offset) }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            offset += Int64(n)
            progress?(offset, stored.size)
        }
        return hasher.finalizeHex()
    }
}
