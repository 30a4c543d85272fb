import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What to snapshot and how.
public struct SnapshotOptions: Sendable {
    public var kind: String = "manual"
    public var label: String?
    /// libdeflate compression level, 1 (fastest) to 12 (smallest).
    public var level: Int = Snapshotter.defaultLevel
    /// Store nothing when the database has not changed since its newest snapshot.
    public var ifChanged = false
    /// Seconds to wait for the store's lock.
    public var lockWait: TimeInterval = 30
    /// For `pre-migration` snapshots: the migrations about to run.
    public var migrations: [Int64]?
    /// Compression threads (all cores by default).
    public var workers: Int = ImageCodec.defaultWorkers

    public init(kind: String = "manual", label: String? = nil) {
        self.kind = kind
        self.label = label
    }
}

/// The result of taking a snapshot.
public enum SnapshotOutcome: Sendable {
    case created(Manifest)
    /// `ifChanged` was set and the database matches this existing snapshot.
    case unchanged(Manifest)

    public var manifest: Manifest {
        switch self { case .created(let m), .unchanged(let m): return m }
    }
}

/// Phases of long operations, for progress displays.
public enum Phase: String, Sendable {
    case copying = "copying"
    case compressing = "compressing"
    case checking = "checking"
    case decompressing = "decompressing"
    case restoring = "restoring"
    /// The safety snapshot taken before a restore or recovery (progress in thousandths).
    case savingCurrentState = "saving the current state first"
    /// `PRAGMA quick_check` on an image about to be restored (0 of 1, then 1 of 1).
    case checkingImage = "checking the image"
}

public typealias PhaseProgress = (_ phase: Phase, _ done: Int64, _ total: Int64) -> Void

/// Takes consistent snapshots of live databases into a store.
///
/// The database is copied with SQLite's online backup API while one read transaction is held on the
/// source for the whole copy: every page comes from the same committed state, and the copy never
/// restarts however often other processes write (in WAL mode they never wait; in rollback-journal
/// mode their writes wait, within their busy timeout, for the copy phase only). The copy is then
/// compressed on all cores and both sides are checksummed; the data file is committed first and the
/// manifest last, each atomically.
public enum Snapshotter {
    public static let defaultLevel = 6
    /// Pages copied per backup step (progress granularity).
    static let pagesPerStep: Int32 = 2048

    public static func take(database databasePath: String, store: SnapshotStore, options: SnapshotOptions,
                            progress: PhaseProgress? = nil) throws -> SnapshotOutcome {
        guard (1...12).contains(options.level) else {
            throw BackstopError.invalidInput("compression level \(options.level) is out of range: use 1 (fastest) to 12 (smallest)")
        }
        let database = FileSystem.absolute(databasePath)
        try Database.checkIsSQLiteFile(database)
        let lock = try store.lock(.shared, wait: options.lockWait)
        defer { lock.release() }
        store.removeStaleFiles()
        return try takeLocked(database: database, store: store, options: options, progress: progress)
    }

    /// Takes a snapshot while the caller already holds the store's lock.
    static func takeLocked(database: String, store: SnapshotStore, options: SnapshotOptions,
                           progress: PhaseProgress?) throws -> SnapshotOutcome {
        let started = Date()
        let imagePath = store.temporaryPath(for: "image")
        defer { removeDatabaseFiles(imagePath) }

        // 1. Copy a consistent image through the backup API.
        let copy = try copyImage(from: database, to: imagePath, lockWait: options.lockWait, progress: progress)

        // 2. With --if-changed, compare with the newest snapshot of this database.
        if options.ifChanged, let newest = try store.snapshots(ofDatabase: database).last {
            if try ImageFiles.sha256(path: imagePath).sha256 == newest.sha256 { return .unchanged(newest) }
        }
        return .created(try storeImage(.file(imagePath), copy: copy, of: database, store: store, options: options,
                                       started: started, progress: progress))
    }

    /// Compresses a consistent image of `database` into the store and commits it: the data file under a
    /// fresh id, then the manifest. The caller holds the store's lock and keeps `imagePath` unchanged.
    static func storeImage(_ image: ImageSource, copy: CopyResult, of database: String, store: SnapshotStore,
                           options: SnapshotOptions, started: Date, progress: PhaseProgress?) throws -> Manifest {
        // 3. Compress on all cores, checksumming both sides.
        let compressedPath = store.temporaryPath(for: "sqlite.gz")
        defer { unlink(compressedPath) }
        let fd = try FileSystem.createExclusive(compressedPath)
        let digest: ImageDigest
        do {
            defer { close(fd) }
            digest = try image.compress(to: fd, outputPath: compressedPath, level: options.level, workers: options.workers,
                                        progress: progress.map { p in { p(.compressing, $0, $1) } })
            guard fsync(fd) == 0 else { throw BackstopError.posix("flush", compressedPath) }
        }
        guard digest.imageBytes == Int64(copy.pageSize) * Int64(copy.pageCount) else {
            throw BackstopError.failed("the copied image has \(digest.imageBytes) bytes, expected \(copy.pageSize) x \(copy.pageCount)")
        }

        // 4. Commit: the data file under a fresh id (never replacing anything), then the manifest.
        var id = Timestamp.compactID(copy.takenAt)
        var attempt = copy.takenAt
        while true {
            let dataPath = (store.path as NSString).appendingPathComponent(Manifest.fileName(for: id))
            if !FileSystem.exists(store.manifestPath(id: id)) {
                if link(compressedPath, dataPath) == 0 { break }
                guard errno == EEXIST else { throw BackstopError.posix("commit the snapshot to", dataPath) }
            }
            attempt = attempt.addingTimeInterval(0.001)
            id = Timestamp.compactID(attempt)
        }
        unlink(compressedPath)
        FileSystem.fsyncDirectory(store.path)

        let manifest = Manifest(
            id: id, createdAt: Timestamp.rfc3339(copy.takenAt), kind: options.kind, label: options.label,
            file: Manifest.fileName(for: id), database: database, dbBytes: digest.imageBytes,
            compressedBytes: digest.compressedBytes, sha256: digest.imageSHA256, compressedSha256: digest.compressedSHA256,
            pageSize: copy.pageSize, pageCount: copy.pageCount, schemaVersion: copy.schemaVersion,
            sqliteVersion: Database.libraryVersion, toolVersion: BackstopVersion.current,
            durationMs: Int(Date().timeIntervalSince(started) * 1000), journalMode: copy.journalMode,
            compressionLevel: options.level, migrations: options.migrations)
        do {
            try FileSystem.writeAtomically(try manifest.encoded(), to: store.manifestPath(id: id))
        } catch {
            unlink((store.path as NSString).appendingPathComponent(manifest.file))
            throw error
        }
        return manifest
    }

    struct CopyResult {
        var takenAt: Date
        var pageSize: Int
        var pageCount: Int
        var schemaVersion: Int64?
        var journalMode: String
    }

    /// Copies `source` into a new database file at `destination` through the backup API, holding one
    /// read transaction on the source for the whole copy.
    static func copyImage(from source: String, to destination: String, lockWait: TimeInterval,
                          progress: PhaseProgress?) throws -> CopyResult {
        let sourceDB = try Database(path: source, mode: .readOnly, busyTimeout: max(lockWait, 5))
        let fd = try FileSystem.createExclusive(destination)
        close(fd)
        let destinationDB = try Database(path: destination, mode: .create)
        try destinationDB.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -16384")

        // One read transaction across every backup step: a single committed state, no restarts.
        try sourceDB.execute("BEGIN DEFERRED")
        defer { try? sourceDB.execute("ROLLBACK") }
        let schemaVersion = try SchemaVersion.read(from: sourceDB)   // also starts the read transaction
        let takenAt = Date()
        let journalMode = sourceDB.journalMode
        let backup = try Backup(from: sourceDB, to: destinationDB)
        let deadline = Date().addingTimeInterval(max(lockWait, 5))
        do {
            while try !backup.step(pages: pagesPerStep, busyDeadline: deadline) {
                let total = Int64(backup.pageCount)
                progress?(.copying, total - Int64(backup.remaining), total)
            }
            try backup.finish()
        } catch let error as SQLiteError where error.isDiskFull {
            throw BackstopError.io(operation: "write the snapshot into", path: (destination as NSString).deletingLastPathComponent, errno: ENOSPC)
        }
        let pageSize = destinationDB.pageSize
        let pageCount = destinationDB.pageCount
        progress?(.copying, Int64(pageCount), Int64(pageCount))
        return CopyResult(takenAt: takenAt, pageSize: pageSize, pageCount: pageCount, schemaVersion: schemaVersion,
                          journalMode: journalMode)
    }

    /// Removes a temporary database and any journal files SQLite left beside it.
    static func removeDatabaseFiles(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }
}

/// Where an image to compress is read from.
enum ImageSource {
    /// A file no SQLite connection of this process has open (a private copy).
    case file(String)
    /// The main file of an open connection, `bytes` long, read through SQLite's own file handle
    /// (a descriptor of our own would drop SQLite's locks when closed).
    case database(Database, bytes: Int64)

    func compress(to output: Int32, outputPath: String, level: Int, workers: Int, progress: ProgressHandler?) throws -> ImageDigest {
        switch self {
        case .file(let path):
            return try ImageFiles.compress(path: path, to: output, outputPath: outputPath, level: level, workers: workers, progress: progress)
        case .database(let database, let bytes):
            return try ImageCodec.compress(
                total: bytes, level: level, workers: workers,
                read: { buffer, offset in
                    let count = Int(max(0, min(Int64(buffer.count), bytes - offset)))
                    if count > 0 { try database.readFile(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), at: offset) }
                    return count
                },
                write: { bytes in try FileSystem.writeAll(output, bytes, path: outputPath) }, progress: progress)
        }
    }
}

/// The schema version recorded by Backstop's migration history, when the database has one.
public enum SchemaVersion {
    public static let historyTable = "backstop_migrations"

    public static func read(from database: Database) throws -> Int64? {
        guard try database.tableExists(historyTable) else { return nil }
        return try database.scalar("SELECT max(version) FROM \(quoteIdentifier(historyTable))")?.int64
    }
}
