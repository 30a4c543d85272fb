import BackstopAge
import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What to snapshot and how.
public struct SnapshotOptions: Sendable {
    public var kind: SnapshotKind = .manual
    public var label: String?
    /// libdeflate compression level, 1 (fastest) to 12 (smallest).
    public var level: Int = Snapshotter.defaultLevel
    /// Store nothing when the database has not changed since its newest (intact) snapshot.
    public var ifChanged = false
    /// Seconds to wait for the store's lock.
    public var lockWait: TimeInterval = 30
    /// For `pre-migration` snapshots: the migrations about to run.
    public var migrations: [Int64]?
    /// For snapshots taken by `run`: the command about to run.
    public var command: String?
    /// Compression threads (all cores by default).
    public var workers: Int = ImageCodec.defaultWorkers
    /// Run `PRAGMA quick_check` on the image as it is taken and record the result in the manifest.
    public var check = true
    /// Receives what is worth telling the user (a lock taken over, a damaged newest snapshot).
    public var notify: Notifier = { _ in }

    public init(kind: SnapshotKind = .manual, label: String? = nil) {
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
    /// Copying pages through the backup API (compressing them on the way).
    case copying = "copying"
    case compressing = "compressing"
    /// Hashing a stored file.
    case checking = "checking"
    case decompressing = "decompressing"
    case restoring = "restoring"
    /// Sending a snapshot to a replica.
    case uploading = "uploading"
    /// Encrypting a snapshot to a replica's recipients before it is sent (a first pass, to checksum it).
    case encrypting = "encrypting for the replica"
    /// The safety snapshot taken before a restore or recovery (progress in thousandths).
    case savingCurrentState = "saving the current state first"
    /// SQLite's own check of an image (`quick_check` or `integrity_check`).
    case checkingImage = "checking the image"
}

public typealias PhaseProgress = (_ phase: Phase, _ done: Int64, _ total: Int64) -> Void

/// Takes consistent snapshots of live databases into a store.
///
/// The database is read through SQLite's online backup API inside one read transaction held for the whole
/// snapshot: every page comes from the same committed state, and the copy never restarts however often
/// other processes write (in WAL mode they never wait; in rollback-journal mode their commits wait,
/// within their busy timeout, while the snapshot reads). Pages stream in order into compression on all
/// cores (see ``ImageStream``), so the store needs room for the compressed file only; both sides are
/// checksummed, `PRAGMA quick_check` runs on the same state, and the data file is committed first and the
/// manifest last, each atomically.
public enum Snapshotter {
    public static let defaultLevel = 6

    public static func take(database databasePath: String, store: SnapshotStore, options: SnapshotOptions,
                            progress: PhaseProgress? = nil) throws -> SnapshotOutcome {
        guard (1...12).contains(options.level) else {
            throw BackstopError.invalidInput("compression level \(options.level) is out of range: use 1 (fastest) to 12 (smallest)")
        }
        let database = FileSystem.absolute(databasePath)
        try Database.checkIsSQLiteFile(database)
        let lock = try store.lock(.shared, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }
        let stale = store.removeStaleFiles()
        if !stale.isEmpty { options.notify(.removedStaleFiles(stale, directory: store.path)) }
        let outcome = try takeLocked(database: database, store: store, options: options, progress: progress)
        if case .created(let manifest) = outcome, manifest.encryption == nil,
           let previous = (try? store.snapshots(ofDatabase: database))?.last(where: { $0.id != manifest.id }), previous.encryption != nil {
            options.notify(.notEncrypted(id: manifest.id, previous: previous.id))
        }
        if case .created(let manifest) = outcome, options.kind == .manual {
            try? store.record(JournalEntry(action: .snapshot, database: database, snapshot: manifest.id, details: manifest.label))
        }
        return outcome
    }

    /// Takes a snapshot while the caller already holds the store's lock.
    static func takeLocked(database: String, store: SnapshotStore, options: SnapshotOptions,
                           progress: PhaseProgress?) throws -> SnapshotOutcome {
        let started = Date()
        let source = try Database.openForReading(database, busyTimeout: max(options.lockWait, 5))
        // One read transaction for everything below: a single committed state, no restarts.
        try source.execute("BEGIN DEFERRED")
        defer { if source.isInTransaction { try? source.execute("ROLLBACK") } }
        let schemaVersion = try SchemaVersion.read(from: source)   // also starts the read transaction
        // The application's own migrator, as its table says; informational, so a table that cannot be
        // read never stops a backup.
        let appMigrations = (try? AppMigrators.detect(source)) ?? nil
        let takenAt = Date()
        let journalMode = try source.journalMode
        let deadline = Date().addingTimeInterval(max(options.lockWait, 5))
        let copyProgress = progress.map { p in { (done: Int64, total: Int64) in p(.copying, done, total) } }

        let keys = store.keys
        // With --if-changed, compare the image with the newest snapshot whose stored file is intact.
        if options.ifChanged, let newest = try newestIntactSnapshot(of: database, in: store, notify: options.notify) {
            let hasher = SHA256Hasher()
            _ = try ImageStream.stream(from: source, busyDeadline: deadline, progress: copyProgress) { hasher.update($0) }
            // A snapshot encrypted otherwise than the store now asks (or not at all) is not the one wanted.
            let sameKeys = (newest.encryption?.recipients ?? []).sorted() == keys.recipients.map(\.description).sorted()
            if hasher.finalizeHex() == newest.sha256, sameKeys { return .unchanged(newest) }
        }

        // Encrypted stores wrap the gzip stream in age (age-encryption.org/v1) as it is written: the
        // gzip bytes never touch the disk, and `age -d | gzip -dc` still yields the image.
        let file = try store.temporaryFile(for: keys.encrypts ? "sqlite.gz.age" : "sqlite.gz")
        let writeFile: ImageCodec.Writer = { bytes in
            do { try file.append(bytes) }
            catch let error as BackstopError { throw error.diskFull(in: store.path) }
            Fault.point("snapshot.mid-write")
        }
        let storedHash = SHA256Hasher()
        let encryptor = try keys.encrypts ? AgeEncryptor(recipients: keys.recipients) { bytes in
            storedHash.update(bytes)
            try writeFile(bytes)
        } : nil
        let compressor = ImageCompressor(level: options.level, workers: options.workers)
        let write: ImageCodec.Writer = { bytes in
            if let encryptor { try encryptor.append(bytes) } else { try writeFile(bytes) }
        }
        let streamed = try ImageStream.stream(from: source, busyDeadline: deadline, progress: copyProgress) { bytes in
            try compressor.append(bytes, write: write)
        }
        var digest = try compressor.finish(write: write)
        guard digest.imageBytes == streamed.bytes else {
            throw BackstopError.failed("the streamed image has \(digest.imageBytes) bytes, expected \(streamed.pageSize) x \(streamed.pageCount)")
        }
        var encryption: Manifest.Encryption?
        if let encryptor {
            try encryptor.finish()
            encryption = Manifest.Encryption(recipients: keys.recipients.map(\.description),
                                             gzipBytes: digest.compressedBytes, gzipSha256: digest.compressedSHA256)
            digest.compressedBytes = encryptor.writtenBytes
            digest.compressedSHA256 = storedHash.finalizeHex()
        }
        var check: ImageCheck?
        if options.check {
            progress?(.checkingImage, 0, 1)
            check = ImageCheck(IntegrityCheck.run(on: source, quick: true))
            progress?(.checkingImage, 1, 1)
        }
        try source.execute("ROLLBACK")
        let manifest = try commit(file, digest: digest, pageSize: streamed.pageSize, pageCount: streamed.pageCount,
                                  takenAt: takenAt, schemaVersion: schemaVersion, appMigrations: appMigrations,
                                  journalMode: journalMode, check: check, encryption: encryption,
                                  of: database, store: store, options: options, started: started)
        return .created(manifest)
    }

    /// Commits a compressed snapshot: the data file under a fresh id (never replacing anything, and held
    /// locked so no cleanup takes it for an orphan), the next sequence number, then the manifest.
    static func commit(_ file: TemporaryFile, digest: ImageDigest, pageSize: Int, pageCount: Int, takenAt: Date,
                       schemaVersion: Int64?, appMigrations: AppMigrationState?, journalMode: JournalMode, check: ImageCheck?, encryption: Manifest.Encryption? = nil, of database: String,
                       store: SnapshotStore, options: SnapshotOptions, started: Date) throws -> Manifest {
        do { try file.sync() } catch let error as BackstopError { throw error.diskFull(in: store.path) }
        var id = Timestamp.compactID(takenAt)
        var attempt = takenAt
        while true {
            let dataPath = (store.path as NSString).appendingPathComponent(Manifest.fileName(for: id, encrypted: encryption != nil))
            if !FileSystem.exists(store.manifestPath(id: id)) {
                if try file.publish(as: dataPath) { break }
            }
            attempt = attempt.addingTimeInterval(0.001)
            id = Timestamp.compactID(attempt)
        }
        let dataPath = (store.path as NSString).appendingPathComponent(Manifest.fileName(for: id, encrypted: encryption != nil))
        Fault.point("snapshot.after-data-commit")
        do {
            let manifest = Manifest(
                id: id, createdAt: Timestamp.rfc3339(takenAt), kind: options.kind, label: options.label,
                file: Manifest.fileName(for: id, encrypted: encryption != nil), database: database, dbBytes: digest.imageBytes,
                compressedBytes: digest.compressedBytes, sha256: digest.imageSHA256, compressedSha256: digest.compressedSHA256,
                pageSize: pageSize, pageCount: pageCount, schemaVersion: schemaVersion,
                sqliteVersion: Database.libraryVersion, toolVersion: BackstopVersion.current,
                durationMs: Int(Date().timeIntervalSince(started) * 1000), journalMode: journalMode,
                compressionLevel: options.level, migrations: options.migrations, sequence: try store.nextSequence(),
                check: check, appMigrations: appMigrations, command: options.command, encryption: encryption)
            Fault.point("snapshot.before-manifest")
            try FileSystem.writeAtomically(try manifest.encoded(), to: store.manifestPath(id: id), replace: false)
            Fault.point("snapshot.after-manifest")
            file.discard()
            return manifest
        } catch {
            unlink(dataPath)
            file.discard()
            throw (error as? BackstopError)?.diskFull(in: store.path) ?? error
        }
    }

    /// The newest snapshot of `database` whose stored file still has its size and checksum. A damaged
    /// newest snapshot must never make `--if-changed` skip the only copy of the current state.
    static func newestIntactSnapshot(of database: String, in store: SnapshotStore, notify: Notifier) throws -> Manifest? {
        guard let newest = try store.snapshots(ofDatabase: database).last else { return nil }
        if Verifier.verify(newest, in: store, deep: false).ok { return newest }
        notify(.damagedNewestSnapshot(id: newest.id, database: database))
        return nil
    }

    /// Removes a temporary database and any journal files SQLite left beside it.
    static func removeDatabaseFiles(_ path: String) {
        for suffix in ["", "-journal", "-wal", "-shm"] { unlink(path + suffix) }
    }
}

extension ImageCheck {
    init(_ report: IntegrityReport) {
        self.init(method: report.method, ok: report.ok,
                  problems: report.couldNotRun.map { [$0] } ?? Array(report.problems.prefix(10)), notChecked: report.notChecked)
    }
}

extension BackstopError {
    /// An I/O error that is a full disk says where, so the message can say which disk to free.
    func diskFull(in directory: String) -> BackstopError {
        guard isDiskFull, case .io = self else { return self }
        return .diskFull(path: directory, doing: "writing the snapshot", outcome: "no snapshot was stored and the database was not touched", store: true)
    }
}
