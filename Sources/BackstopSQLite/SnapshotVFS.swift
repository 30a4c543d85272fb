import CBackstopVFS
import CSQLite
import Foundation
import Synchronization

/// Random access to the compressed bytes of a snapshot: a file, a decrypting reader, an object store.
public struct SnapshotBytes: @unchecked Sendable {
    /// Bytes in the compressed stream.
    public var size: Int64
    /// Reads exactly `buffer.count` bytes at `offset`.
    public var read: (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Void
    /// Called when SQLite closes the snapshot.
    public var close: () -> Void

    public init(size: Int64, read: @escaping (_ buffer: UnsafeMutableRawBufferPointer, _ offset: Int64) throws -> Void,
                close: @escaping () -> Void = {}) {
        self.size = size
        self.read = read
        self.close = close
    }
}

/// Watches a snapshot opened in place: every block the VFS decompresses for the first time, in order
/// (so a sequential read, such as a restore's, can be checksummed on the way), and why a read failed.
public final class SnapshotReadObserver: @unchecked Sendable {
    /// Called with (member index, the member's compressed bytes, its block) when a block is first decompressed.
    public var onMember: ((Int64, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void)?
    /// Why the last open or read failed, in words (a damaged block, a truncated file ...).
    public fileprivate(set) var lastError: String?
    /// The error a read of the compressed bytes threw, if one did.
    public fileprivate(set) var readError: Error?

    public init(onMember: ((Int64, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void)? = nil) {
        self.onMember = onMember
    }
}

/// Opens Backstop's compressed snapshots read-only, in place, through the `backstop` VFS: SQLite reads
/// pages that are decompressed on demand (CRC-32 and sizes checked) into a small cache. No
/// decompressed copy is written anywhere.
///
/// Related SQLite documentation: <https://www.sqlite.org/vfs.html>
public enum SnapshotVFS {
    public static let name = BK_VFS_NAME

    private final class Context {
        let bytes: SnapshotBytes
        let observer: SnapshotReadObserver
        init(bytes: SnapshotBytes, observer: SnapshotReadObserver) {
            self.bytes = bytes
            self.observer = observer
        }
    }

    private static let counter = Atomic<Int>(0)

    /// Opens the snapshot whose compressed bytes `bytes` reads, as a read-only, `query_only` connection.
    /// `imageBytes` is the image size the manifest promises (the open fails if the file says otherwise).
    public static func open(_ bytes: SnapshotBytes, imageBytes: Int64?, cacheBytes: Int = 8 << 20,
                            observer: SnapshotReadObserver = SnapshotReadObserver()) throws -> Database {
        let name = try register(bytes, imageBytes: imageBytes, cacheBytes: cacheBytes, observer: observer)
        do {
            let db = try Database(path: name, mode: .readOnly, vfs: SnapshotVFS.name)
            // SQLite's own page cache keeps the pages of random lookups (index checks) beside the VFS's blocks.
            try db.execute("PRAGMA query_only = ON; PRAGMA cache_size = -16384")
            return db
        } catch let error as SQLiteError {
            bk_source_unregister(name)   // only does something if SQLite never opened it
            throw SQLiteError(code: error.code, message: observer.lastError ?? error.message, sql: error.sql)
        }
    }

    /// Attaches the snapshot that `bytes` reads to `db` as the read-only schema `schema`.
    public static func attach(_ bytes: SnapshotBytes, imageBytes: Int64?, to db: Database, as schema: String,
                              cacheBytes: Int = 8 << 20, observer: SnapshotReadObserver = SnapshotReadObserver()) throws {
        let name = try register(bytes, imageBytes: imageBytes, cacheBytes: cacheBytes, observer: observer)
        do {
            try db.prepare("ATTACH DATABASE ?1 AS \(quoteIdentifier(schema))").all([.text("file:\(name)?vfs=\(SnapshotVFS.name)&mode=ro")])
        } catch let error as SQLiteError {
            bk_source_unregister(name)
            throw SQLiteError(code: error.code, message: observer.lastError ?? error.message, sql: error.sql)
        }
    }

    /// Registers `bytes` with the VFS under a fresh name, for the next open of that name.
    private static func register(_ bytes: SnapshotBytes, imageBytes: Int64?, cacheBytes: Int,
                                 observer: SnapshotReadObserver) throws -> String {
        guard bk_vfs_register() == SQLITE_OK else {
            throw SQLiteError(code: .SQLITE_ERROR, message: "cannot register the snapshot VFS")
        }
        let number = counter.wrappingAdd(1, ordering: .relaxed).newValue
        let name = "bk-source-\(getpid())-\(number)"
        let context = Unmanaged.passRetained(Context(bytes: bytes, observer: observer)).toOpaque()
        var source = bk_source()
        source.ctx = context
        source.size = bytes.size
        source.read = { ctx, buffer, count, offset in
            let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
            do {
                try context.bytes.read(UnsafeMutableRawBufferPointer(start: buffer, count: Int(count)), offset)
                return 0
            } catch {
                context.observer.readError = error
                context.observer.lastError = "cannot read the snapshot: \(error)"
                return -1
            }
        }
        source.on_member = { ctx, index, member, memberLength, block, blockLength in
            let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
            context.observer.onMember?(index, UnsafeRawBufferPointer(start: member, count: Int(memberLength)),
                                       UnsafeRawBufferPointer(start: block, count: Int(blockLength)))
        }
        source.on_error = { ctx, message in
            let context = Unmanaged<Context>.fromOpaque(ctx!).takeUnretainedValue()
            if context.observer.readError == nil { context.observer.lastError = message.map { String(cString: $0) } }
        }
        source.close = { ctx in
            let context = Unmanaged<Context>.fromOpaque(ctx!).takeRetainedValue()
            context.bytes.close()
        }
        let code = name.withCString { bk_source_register($0, &source, imageBytes ?? -1, Int64(cacheBytes)) }
        guard code == SQLITE_OK else {
            Unmanaged<Context>.fromOpaque(context).release()
            throw SQLiteError(code: ResultCode(rawValue: code), message: "cannot register the snapshot source")
        }
        return name
    }

    /// Opens the snapshot file at `path` in place (never following a symbolic link, never blocking on
    /// something that is not a regular file).
    public static func open(path: String, imageBytes: Int64?, cacheBytes: Int = 8 << 20,
                            observer: SnapshotReadObserver = SnapshotReadObserver()) throws -> Database {
        try open(try fileBytes(path), imageBytes: imageBytes, cacheBytes: cacheBytes, observer: observer)
    }

    /// The compressed bytes of a regular file, read through a descriptor opened without following links.
    public static func fileBytes(_ path: String) throws -> SnapshotBytes {
        let fd = Foundation.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw SnapshotFileError(path: path, errno: errno) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw SnapshotFileError(path: path, errno: EFTYPE_NOT_REGULAR)
        }
        return SnapshotBytes(size: Int64(info.st_size), read: { buffer, offset in
            var done = 0
            while done < buffer.count {
                let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n < 0 { throw SnapshotFileError(path: path, errno: errno) }
                if n == 0 { throw SnapshotFileError(path: path, errno: EFTYPE_SHORT) }
                done += n
            }
        }, close: { close(fd) })
    }
}

/// Pseudo-errno values for what POSIX has no code for.
public let EFTYPE_NOT_REGULAR: Int32 = -1
public let EFTYPE_SHORT: Int32 = -2

/// A snapshot file that cannot be read: missing, not a regular file, shorter than it should be.
public struct SnapshotFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var errno: Int32

    public var isMissing: Bool { errno == ENOENT }
    public var isNotRegularFile: Bool { errno == EFTYPE_NOT_REGULAR || errno == ELOOP }

    public var description: String {
        switch errno {
        case EFTYPE_NOT_REGULAR, ELOOP: return "\(path) is not a regular file (a symbolic link, a FIFO or a device); it was not read"
        case EFTYPE_SHORT: return "\(path) ends before its end: it is truncated"
        default: return "cannot read \(path): \(String(cString: strerror(errno)))"
        }
    }
}
