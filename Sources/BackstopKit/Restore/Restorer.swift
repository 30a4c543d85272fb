import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// Options for restores.
public struct RestoreOptions {
    /// Seconds to wait for the store's and the database's locks, and for other connections.
    public var lockWait: TimeInterval = 30
    /// Called with a read-only connection to the live database, under the database lock, before anything
    /// changes (migration guards). Throwing stops the restore with nothing changed.
    public var beforeChange: ((Database) throws -> Void)?
    /// Compression level of the `pre-restore` snapshot. Default 1: a restore usually happens during an
    /// incident, where a faster safety net is worth a slightly larger file.
    public var level: Int = 1
    /// Refuse when the snapshot is of another database (restores into the live database only).
    public var allowOtherDatabase = false

    public init() {}
}

/// What a restore did.
public struct RestoreReport {
    public var restored: Manifest
    /// The snapshot of the state just before the restore, to undo it.
    public var preRestore: Manifest?
    public var target: String
    public var durationMs: Int
    /// True when the image was rebuilt to the live database's page size (WAL databases).
    public var convertedPageSize: Bool
}

/// Restores snapshots, either into the live database (through the backup API, in one transaction,
/// after a `pre-restore` snapshot) or into a new database file.
public enum Restorer {
    /// Restores `manifest` into the live database at `database`.
    ///
    /// Order: database lock, store lock (shared), full verification of the snapshot into a private
    /// temporary image, `beforeChange`, a `pre-restore` snapshot of the current state, then one backup
    /// step that replaces every page in a single transaction on the live database. Other connections
    /// may keep it open: their `-wal` and `-shm` stay coherent because SQLite does the writing.
    /// A kill at any moment leaves the database either as it was or fully restored.
    public static func restoreLive(_ manifest: Manifest, store: SnapshotStore, database databasePath: String,
                                   options: RestoreOptions = RestoreOptions(),
                                   progress: PhaseProgress? = nil) throws -> RestoreReport {
        let started = Date()
        let database = FileSystem.absolute(databasePath)
        try Database.checkIsSQLiteFile(database)
        if manifest.database != database && !options.allowOtherDatabase {
            throw BackstopError.refused(
                "snapshot \(manifest.id) is of \(manifest.database), not of \(database); nothing was changed",
                hint: "write it to a new file with 'backstop restore \(manifest.id) --to PATH'")
        }
        let databaseLock = try DatabaseLock.acquire(database, wait: options.lockWait)
        defer { databaseLock.release() }
        let storeLock = try store.lock(.shared, wait: options.lockWait)
        defer { storeLock.release() }

        // 1. Verify: decompress into a private image, checking both checksums, then SQLite's own check.
        let imagePath = store.temporaryPath(for: "restore-image")
        defer { Snapshotter.removeDatabaseFiles(imagePath) }
        try Verifier.checkedImage(manifest, in: store, to: imagePath, progress: progress)

        let live = try Database(path: database, mode: .readWrite, busyTimeout: options.lockWait)
        let liveJournalMode = live.journalMode
        let liveIsWAL = liveJournalMode == "wal"
        let livePageSize = live.pageSize
        // Read now: only a migration changes it, and migrations need the database lock this run holds.
        let liveSchemaVersion = try SchemaVersion.read(from: live)
        var converted = false
        do {
            progress?(.checkingImage, 0, 1)
            let image = try Database(path: imagePath, mode: .readWrite)
            let problems = try image.integrityProblems(quick: true)
            progress?(.checkingImage, 1, 1)
            guard problems.isEmpty else {
                throw BackstopError.verificationFailed(id: manifest.id, reason: "PRAGMA quick_check failed: \(problems.prefix(3).joined(separator: "; "))")
            }
            // The copy takes the live database's journal mode; SQLite sets WAL's header itself.
            try image.execute("PRAGMA journal_mode = DELETE")
            // In WAL mode the backup API cannot change the destination's page size: rebuild the
            // private image at the live page size first (same rows, same schema).
            if liveIsWAL && image.pageSize != livePageSize {
                try image.execute("PRAGMA page_size = \(livePageSize); VACUUM")
                guard image.pageSize == livePageSize else {
                    throw BackstopError.refused("cannot convert snapshot \(manifest.id) to the live page size \(livePageSize); nothing was changed",
                                                hint: "restore it to a new file with --to")
                }
                converted = true
            }
        }

        // 2. Guards.
        if let beforeChange = options.beforeChange {
            let reader = try Database(path: database, mode: .readOnly, busyTimeout: options.lockWait)
            try beforeChange(reader)
        }

        // 3. Take the live database's write lock: the backup API opens the destination's write transaction
        //    on its first step and keeps it until the copy is done, so a step of zero pages takes the lock
        //    and copies nothing. From here to the commit no other write can land, so no write can fall
        //    between the pre-restore snapshot and the restore (other writers wait within their busy timeout).
        let image = try Database(path: imagePath, mode: .readOnly)
        let backup = try Backup(from: image, to: live)
        func step(pages: Int32) throws {
            do {
                _ = try backup.step(pages: pages, busyDeadline: Date().addingTimeInterval(options.lockWait))
            } catch let error as SQLiteError where error.isBusy {
                throw BackstopError.locked(what: "the database \(database)", holder: "another connection kept it busy",
                                           waited: options.lockWait)
            }
        }
        try step(pages: 0)

        // 4. A snapshot of the current state, so that the restore itself can be undone. If it fails, the
        //    unfinished backup is rolled back when it is released: nothing changed.
        var preOptions = SnapshotOptions(kind: "pre-restore", label: "before restoring \(manifest.id)")
        preOptions.level = options.level
        preOptions.lockWait = options.lockWait
        let safetyProgress = progress.map(Restorer.asSafetySnapshot)
        let pre: Manifest
        if liveIsWAL {
            // WAL: readers still read while the write lock is held; copy through another connection.
            pre = try Snapshotter.takeLocked(database: database, store: store, options: preOptions, progress: safetyProgress).manifest
        } else {
            // Rollback journal: the backup holds the exclusive lock and has written nothing, so the file on
            // disk is exactly the committed state; it is the image, read through the live connection's own
            // file handle.
            guard let size = FileSystem.size(database), size % Int64(livePageSize) == 0 else {
                throw BackstopError.failed("\(database) is not a whole number of \(livePageSize)-byte pages; nothing was changed")
            }
            let copy = Snapshotter.CopyResult(takenAt: Date(), pageSize: livePageSize, pageCount: Int(size / Int64(livePageSize)),
                                              schemaVersion: liveSchemaVersion, journalMode: liveJournalMode)
            pre = try Snapshotter.storeImage(.database(live, bytes: size), copy: copy, of: database, store: store,
                                             options: preOptions, started: Date(), progress: safetyProgress)
        }

        // 5. Replace every page; the commit makes it all visible at once.
        progress?(.restoring, 0, Int64(manifest.dbBytes))
        try step(pages: -1)
        try backup.finish()
        progress?(.restoring, Int64(manifest.dbBytes), Int64(manifest.dbBytes))
        if liveIsWAL { try? live.execute("PRAGMA wal_checkpoint(PASSIVE)") }
        return RestoreReport(restored: manifest, preRestore: pre, target: database,
                             durationMs: Int(Date().timeIntervalSince(started) * 1000), convertedPageSize: converted)
    }

    /// Reports a safety snapshot's two phases (copy, then compress) as one, in thousandths.
    static func asSafetySnapshot(_ progress: @escaping PhaseProgress) -> PhaseProgress {
        { phase, done, total in
            let fraction = total > 0 ? Double(done) / Double(total) : 0
            progress(.savingCurrentState, Int64((phase == .copying ? fraction : 1 + fraction) * 500), 1000)
        }
    }

    /// Writes the snapshot's exact image to a new database file at `path`. Refuses to replace an
    /// existing file unless `force`, and never replaces one that has a `-wal` or `-journal` beside it.
    public static func restoreToFile(_ manifest: Manifest, store: SnapshotStore, path: String, force: Bool,
                                     progress: PhaseProgress? = nil) throws -> RestoreReport {
        let started = Date()
        let target = FileSystem.absolute(path)
        let directory = (target as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(directory) else {
            throw BackstopError.io(operation: "write into", path: directory, errno: ENOENT)
        }
        if FileSystem.exists(target) {
            guard force else {
                throw BackstopError.refused("\(target) already exists; nothing was changed",
                                            hint: "choose another path, or add --force to replace it")
            }
            // A database that is idle but was left in WAL mode (or with a hot journal) is settled
            // first; one that another connection is using cannot be, and is refused.
            if FileSystem.exists(target + "-wal") || FileSystem.exists(target + "-journal") {
                if let existing = try? Database(path: target, mode: .readWrite, busyTimeout: 0) {
                    try? existing.execute("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE")
                }
            }
            for suffix in ["-wal", "-journal"] where FileSystem.exists(target + suffix) {
                throw BackstopError.refused(
                    "\(target) has a \(suffix) file beside it: it may be open or hold an unfinished transaction; nothing was changed",
                    hint: "restore into it as a live database with 'backstop restore --db \(target)'")
            }
        }
        let temporary = (directory as NSString).appendingPathComponent(TemporaryName.make(for: (target as NSString).lastPathComponent))
        defer { unlink(temporary) }
        try Verifier.checkedImage(manifest, in: store, to: temporary, progress: progress)
        try FileSystem.commitRename(temporary, target)
        return RestoreReport(restored: manifest, preRestore: nil, target: target,
                             durationMs: Int(Date().timeIntervalSince(started) * 1000), convertedPageSize: false)
    }
}

/// The lock that lets one Backstop run at a time change a given database (restore, migrate, recover).
/// It lives beside the database as `<db>-backstop.lock`; readers of the database never take it.
public enum DatabaseLock {
    public static func path(for database: String) -> String { database + "-backstop.lock" }

    public static func acquire(_ database: String, wait: TimeInterval) throws -> FileLock {
        try FileLock(path: path(for: database), mode: .exclusive, wait: wait, what: "the database \(database)")
    }
}
