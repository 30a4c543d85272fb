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
    /// Restore a snapshot of a database that failed SQLite's check when the snapshot was taken.
    public var allowFailedCheck = false
    /// With `restoreToFile`, replace an existing file (never one that another process has open).
    public var force = false
    /// A migrations folder whose `guard.sql` must pass before a live restore changes anything.
    public var migrations: String?
    /// Restore into the live database even when the guard's queries return rows.
    public var ignoreGuard = false
    /// Receives what is worth telling the user (a lock taken over from a run that died).
    public var notify: Notifier = { _ in }

    public init() {}
}

/// Which snapshot to restore: a selection, optionally limited to some kinds.
public struct RestoreRequest: Sendable {
    public var selection: SnapshotSelection
    /// Only snapshots of these kinds (and, with `latest`, safety snapshots too when asked for).
    public var kinds: Set<SnapshotKind>?

    public init(_ selection: SnapshotSelection, kinds: Set<SnapshotKind>? = nil) {
        self.selection = selection
        self.kinds = kinds
    }
}

/// What a restore did.
public struct RestoreReport: Sendable {
    public var restored: Manifest
    /// The snapshot of the state just before the restore, to undo it.
    public var preRestore: Manifest?
    public var target: String
    public var durationMs: Int
    /// True when the image was rebuilt to the live database's page size (WAL databases).
    public var convertedPageSize: Bool
    /// Worth knowing (a check that could not run, stale files removed ...).
    public var notes: [String] = []
}

/// Restores snapshots, either into the live database (through the backup API, in one transaction,
/// after a `pre-restore` snapshot) or into a new database file.
public enum Restorer {
    /// Picks the snapshot `request` names among those of `database` and restores it into the live database
    /// (with the guard of `options.migrations`), or, given `path`, into that file.
    public static func restore(_ request: RestoreRequest, store: SnapshotStore, database: String, toFile path: String? = nil,
                               options: RestoreOptions = RestoreOptions(), confirm: ((SelectedSnapshot) throws -> Void)? = nil,
                               progress: PhaseProgress? = nil) throws -> (SelectedSnapshot, RestoreReport) {
        try restore(request, from: store, store: store, database: database, toFile: path, options: options, confirm: confirm, progress: progress)
    }

    /// The same, reading the snapshot from `source` (a replica, say): a live restore takes its `pre-restore`
    /// snapshot into the local `store`; a restore to a new file needs no local store at all.
    public static func restore(_ request: RestoreRequest, from source: any SnapshotRepository, store: SnapshotStore?, database: String,
                               toFile path: String? = nil, options: RestoreOptions = RestoreOptions(),
                               confirm: ((SelectedSnapshot) throws -> Void)? = nil,
                               progress: PhaseProgress? = nil) throws -> (SelectedSnapshot, RestoreReport) {
        let selected = try request.selection.resolve(in: source, database: FileSystem.absolute(database), kinds: request.kinds)
        // What would refuse the restore anyway is said before anyone is asked to confirm it.
        if path == nil { try refuseOtherDatabase(selected.manifest, source: source, database: FileSystem.absolute(database), options: options) }
        try refuseFailedCheck(selected.manifest, options: options)
        try source.keys.requireDecryptable(selected.manifest)
        try confirm?(selected)
        if let path {
            return (selected, try restoreToFile(selected.manifest, from: source, store: store, path: path, options: options, progress: progress))
        }
        guard let store else { throw BackstopError.failed("a live restore needs a local store for its pre-restore snapshot") }
        return (selected, try restoreLive(selected.manifest, from: source, store: store, database: database, options: options, progress: progress,
                                          action: .restore, details: nil, databaseLockHeld: false))
    }

    /// Undoes migration runs by restoring a pre-migration snapshot (see ``Rollback``): the last run's, or
    /// the one taken at `version`.
    public static func rollback(database: String, store: SnapshotStore, toVersion version: Int64?,
                                options: RestoreOptions = RestoreOptions(), confirm: ((RollbackChoice) throws -> Void)? = nil,
                                progress: PhaseProgress? = nil) throws -> (RollbackChoice, RestoreReport) {
        let choice = try Rollback.select(database: database, store: store, toVersion: version)
        try store.keys.requireDecryptable(choice.manifest)
        try confirm?(choice)
        let undone: String
        if let command = choice.undoneCommand {
            undone = "undid run \(command.run) (\(command.command))"
        } else if choice.undoneRun.isEmpty {
            undone = "back to version \(choice.toVersion.map(String.init) ?? "none")"
        } else {
            undone = "undid the run that applied \(choice.undoneRun.map(String.init).joined(separator: ", "))"
        }
        let report = try restoreLive(choice.manifest, store: store, database: database, options: options, progress: progress,
                                     action: .rollback, details: "\(undone): restored the state of \(choice.manifest.createdAt)")
        return (choice, report)
    }

    /// Restores `manifest` into the live database at `database`.
    ///
    /// Order: database lock, store lock (shared), the snapshot opened in place, `beforeChange`, the live
    /// database's write lock, a `pre-restore` snapshot of the current state, then the backup API copies
    /// every page in one transaction. Both checksums of the snapshot are verified on the way, before the
    /// commit: a damaged snapshot changes nothing. Other connections may keep the database open: SQLite
    /// does the writing, so their `-wal` and `-shm` stay coherent. A kill at any moment leaves the
    /// database either as it was or fully restored.
    public static func restoreLive(_ manifest: Manifest, store: SnapshotStore, database databasePath: String,
                                   options: RestoreOptions = RestoreOptions(),
                                   progress: PhaseProgress? = nil, action: JournalEntry.Action = .restore,
                                   details: String? = nil) throws -> RestoreReport {
        try restoreLive(manifest, from: store, store: store, database: databasePath, options: options, progress: progress, action: action,
                        details: details, databaseLockHeld: false)
    }

    /// The same, for a caller that already holds the database lock (a protected run restoring its own
    /// pre-migration snapshot).
    static func restoreLive(_ manifest: Manifest, from source: any SnapshotRepository, store: SnapshotStore, database databasePath: String,
                            options: RestoreOptions, progress: PhaseProgress?, action: JournalEntry.Action, details: String?,
                            databaseLockHeld: Bool) throws -> RestoreReport {
        let started = Date()
        let database = FileSystem.absolute(databasePath)
        try Database.checkIsSQLiteFile(database)
        try refuseOtherDatabase(manifest, source: source, database: database, options: options)
        try refuseFailedCheck(manifest, options: options)
        let databaseLock = databaseLockHeld ? nil : try DatabaseLock.acquire(database, wait: options.lockWait, notify: options.notify)
        defer { databaseLock?.release() }
        // Shared: a prune of the local store waits (it also receives the pre-restore snapshot).
        let storeLock = try store.lock(.shared, wait: options.lockWait, notify: options.notify)
        defer { storeLock.release() }

        // 1. The snapshot, opened once and read in place; its checksums are verified as the copy reads it.
        let file = try SnapshotFile(manifest, in: source)
        guard file.storedSize == manifest.compressedBytes else {
            throw BackstopError.verificationFailed(id: manifest.id, reason: "the file has \(file.storedSize) bytes, the manifest says \(manifest.compressedBytes)")
        }
        var notes: [String] = []
        if manifest.check == nil {
            // Taken before snapshots recorded their check: run it now.
            progress?(.checkingImage, 0, 1)
            let report = IntegrityCheck.run(on: try file.openDatabase(), quick: true)
            progress?(.checkingImage, 1, 1)
            if report.ok == false {
                throw BackstopError.verificationFailed(id: manifest.id, reason: "PRAGMA quick_check failed: \(report.problems.prefix(3).joined(separator: "; "))")
            }
            if let reason = report.couldNotRun { notes.append("PRAGMA quick_check could not run on the image: \(reason)") }
        }
        let verification = SequentialVerification(manifest)
        let observer = SnapshotReadObserver(onMember: verification.member)
        var image = try file.openDatabase(observer: observer)

        let live = try Database.openForWriting(database, busyTimeout: options.lockWait)
        let liveIsWAL = try live.journalMode == .wal
        let livePageSize = try live.int("PRAGMA page_size")
        var converted: PrivateCopy?
        if liveIsWAL && manifest.pageSize != Int(livePageSize) {
            // In WAL mode the backup API cannot change the destination's page size: rebuild the image at
            // the live page size first (same rows, same schema). This needs room for one copy.
            try file.decompressChecked(write: nil, progress: progress.map { p in { p(.decompressing, $0, $1) } })
            converted = try PrivateCopy(vacuuming: image, pageSize: Int(livePageSize), in: store.path)
            image = converted!.database
        }

        // 2. Guards, on the live database as it is, before anything changes.
        let guardQueries = options.ignoreGuard ? [] : try (options.migrations.map { try MigrationDirectory.guardQueries(at: $0) } ?? [])
        if !guardQueries.isEmpty || options.beforeChange != nil {
            let reader = try Database.openForReading(database, busyTimeout: options.lockWait)
            try Guard.enforce(guardQueries, on: reader, action: "restore")
            try options.beforeChange?(reader)
        }

        // 3. The live database's write lock, and a snapshot of the current state taken under it, so that the
        //    restore can be undone and no write falls between that snapshot and the restore.
        var preOptions = SnapshotOptions(kind: .preRestore, label: "before restoring \(manifest.id)")
        preOptions.level = options.level
        preOptions.lockWait = options.lockWait
        preOptions.notify = options.notify
        let safetyProgress = progress.map(SafetySnapshot.progress)
        let deadline = Date().addingTimeInterval(options.lockWait)
        let backup: Backup
        let safety: SafetySnapshot
        if liveIsWAL {
            backup = try lockWAL(live, from: image, database: database, deadline: deadline)
            // The safety snapshot reads through a reader of its own while the copy writes: the copy's frames
            // stay invisible to that reader until the commit, and the commit waits for the snapshot.
            safety = SafetySnapshot(database: database, store: store, options: preOptions)
        } else {
            let locked = try lockRollbackJournal(live, from: image, database: database, store: store, preOptions: preOptions,
                                                 deadline: deadline, progress: safetyProgress)
            backup = locked.0
            safety = SafetySnapshot(taken: locked.1)
        }
        var committed = false
        defer {
            // A restore that did not commit changed nothing: the snapshot taken to undo it is not needed.
            if !committed, let pre = try? safety.wait() { try? store.remove(pre) }
        }

        // 4. Copy every page but the last, check both checksums (the sequential read has seen every block
        //    by then, or they are read here), wait for the safety snapshot, and only then copy the last
        //    page, which commits.
        let pre: Manifest
        do {
            let total = Int64(backup.pageCount)
            progress?(.restoring, 0, total)
            var copied: Int64 = 0
            while copied < total - 1 {
                let pages = Int32(min(Int64(ImageStream.pagesPerStep), total - 1 - copied))
                _ = try backup.step(pages: pages, busyDeadline: deadline)
                copied += Int64(pages)
                progress?(.restoring, copied, total)
                Fault.point("restore.mid-copy")
            }
            if converted == nil { try verification.finish(file) }
            progress?(.savingCurrentState, 0, 1)
            pre = try safety.wait()
            Fault.point("restore.after-pre-restore")
            Fault.point("restore.before-commit")
            _ = try backup.step(pages: -1, busyDeadline: deadline)
            try backup.finish()
            committed = true
            Fault.point("restore.after-commit")
            progress?(.restoring, total, total)
        } catch let error as SQLiteError where observer.lastError != nil {
            // The snapshot failed while the copy read it (a damaged block): the transaction is rolled back.
            throw BackstopError.verificationFailed(id: manifest.id, reason: "\(observer.lastError!) (\(error.message)); the restore was rolled back")
        } catch let error as SQLiteError where error.isDiskFull {
            throw BackstopError.diskFull(path: (database as NSString).deletingLastPathComponent, doing: "restoring into \(database)",
                                         outcome: "the restore was rolled back and the database is as it was", store: false)
        } catch let error as SQLiteError where error.isBusy {
            throw BackstopError.locked(what: "the database \(database)", holder: FileSystem.busyHolder(database), waited: options.lockWait)
        }
        if liveIsWAL { try? live.execute("PRAGMA wal_checkpoint(PASSIVE)") }
        try? store.record(JournalEntry(action: action, database: database, snapshot: manifest.id, safetySnapshot: pre.id,
                                       details: details ?? "restored the state of \(manifest.createdAt)"))
        return RestoreReport(restored: manifest, preRestore: pre, target: database,
                             durationMs: Int(Date().timeIntervalSince(started) * 1000), convertedPageSize: converted != nil,
                             notes: notes)
    }

    /// WAL: the backup's first (empty) step takes the write lock, which never blocks readers.
    private static func lockWAL(_ live: Database, from image: Database, database: String, deadline: Date) throws -> Backup {
        let backup = try Backup(from: image, to: live)
        do {
            _ = try backup.step(pages: 0, busyDeadline: deadline)
        } catch let error as SQLiteError where error.isBusy {
            throw BackstopError.locked(what: "the database \(database)", holder: FileSystem.busyHolder(database), waited: live.busyTimeout)
        }
        return backup
    }

    /// Rollback journal: the backup's first step takes an EXCLUSIVE lock, and waiting for one holds
    /// SQLite's PENDING lock, which turns every new reader away. So the safety snapshot is taken while
    /// holding only a RESERVED lock (other writers wait, readers go on), and the EXCLUSIVE lock is then
    /// tried without waiting (PENDING is held for microseconds, never across a sleep), again and again
    /// with nothing held in between, until the readers of the moment are done; the database's change
    /// counter proves that no write landed between the snapshot and the lock (if one did, the snapshot is
    /// taken again).
    private static func lockRollbackJournal(_ live: Database, from image: Database, database: String, store: SnapshotStore,
                                            preOptions: SnapshotOptions, deadline: Date,
                                            progress: PhaseProgress?) throws -> (Backup, Manifest) {
        var pre: (manifest: Manifest, counter: [UInt8])?
        defer { live.setBusyTimeout(max(1, deadline.timeIntervalSinceNow)) }
        while true {
            let remaining = deadline.timeIntervalSinceNow
            guard remaining > 0 else {
                if let stale = pre?.manifest { try? store.remove(stale) }
                throw BackstopError.locked(what: "the database \(database)",
                                           holder: FileSystem.busyHolder(database, doing: "reading or writing it"), waited: preOptions.lockWait)
            }
            live.setBusyTimeout(remaining)
            do {
                try live.execute("BEGIN IMMEDIATE")
            } catch let error as SQLiteError where error.isBusy {
                continue
            }
            let counter = try changeCounter(live)
            if pre == nil || pre!.counter != counter {
                if let stale = pre?.manifest { try? store.remove(stale) }
                do {
                    let manifest = try SafetySnapshot.takeNow(of: database, in: store, options: preOptions, progress: progress)
                    pre = (manifest, counter)
                } catch {
                    try? live.execute("ROLLBACK")
                    throw error
                }
            }
            try live.execute("ROLLBACK")
            live.setBusyTimeout(0)
            var backup: Backup?
            while backup == nil && deadline.timeIntervalSinceNow > 0 {
                let attempt = try Backup(from: image, to: live)
                do {
                    _ = try attempt.step(pages: 0, busyDeadline: .distantPast)
                    backup = attempt
                } catch let error as SQLiteError where error.isBusy {
                    try? attempt.finish()   // releases PENDING at once: new readers get in
                    usleep(5_000)
                }
            }
            guard let backup else { continue }
            if try changeCounter(live) == pre!.counter { return (backup, pre!.manifest) }
            try? backup.finish()            // a write landed in between: take the snapshot again
        }
    }

    /// The database's change counter (header bytes 24-27), which every commit in rollback-journal mode
    /// increments, read through SQLite's own file handle.
    private static func changeCounter(_ db: Database) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 4)
        try bytes.withUnsafeMutableBytes { try db.readFile(into: $0, at: 24) }
        return bytes
    }

    static func refuseOtherDatabase(_ manifest: Manifest, source: any SnapshotRepository, database: String, options: RestoreOptions) throws {
        if try !source.belongs(manifest, to: database) && !options.allowOtherDatabase {
            throw BackstopError.refused(
                "snapshot \(manifest.id) is of \(manifest.database), not of \(database); nothing was changed",
                remedy: .restoreToNewFile(snapshot: manifest.id))
        }
    }

    static func refuseFailedCheck(_ manifest: Manifest, options: RestoreOptions) throws {
        guard let check = manifest.check, check.failed, !options.allowFailedCheck else { return }
        throw BackstopError.refused(
            "snapshot \(manifest.id) was taken of a database that failed \(check.method): \(check.problems.prefix(3).joined(separator: "; ")); nothing was changed",
            remedy: .allowFailedCheck)
    }

    /// Writes the snapshot's exact image to a new database file at `path`. Refuses to replace an existing
    /// file unless `options.force`; never replaces one another process has open, and keeps the replaced
    /// file's owner, group and mode. Never leaves the image beside a `-wal`, `-shm` or `-journal` of another
    /// state, and checks the file where it lies before reporting success.
    public static func restoreToFile(_ manifest: Manifest, store: SnapshotStore, path: String,
                                     options: RestoreOptions = RestoreOptions(),
                                     progress: PhaseProgress? = nil) throws -> RestoreReport {
        try restoreToFile(manifest, from: store, store: store, path: path, options: options, progress: progress)
    }

    /// The same, reading from `source`; the journal of `store` (if any) records it.
    public static func restoreToFile(_ manifest: Manifest, from source: any SnapshotRepository, store: SnapshotStore?, path: String,
                                     options: RestoreOptions = RestoreOptions(),
                                     progress: PhaseProgress? = nil) throws -> RestoreReport {
        let started = Date()
        let target = FileSystem.absolute(path)
        let directory = (target as NSString).deletingLastPathComponent
        let name = (target as NSString).lastPathComponent
        guard FileSystem.isDirectory(directory) else {
            throw BackstopError.io(operation: "write into", path: directory, errno: ENOENT)
        }
        try refuseFailedCheck(manifest, options: options)
        let lock = try DatabaseLock.acquire(target, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }
        var notes: [String] = []
        let stale = TemporaryFile.removeStale(in: directory, for: name)
        if !stale.isEmpty { notes.append("removed \(stale.count) temporary file\(stale.count == 1 ? "" : "s") an interrupted restore left in \(directory)") }

        var keep: stat?
        if FileSystem.exists(target) {
            guard options.force else {
                throw BackstopError.refused("\(target) already exists; nothing was changed",
                                            remedy: .chooseAnotherPathOrReplace)
            }
            var info = stat()
            guard lstat(target, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                throw BackstopError.unsafeFile(path: target, reason: "it is not a regular file")
            }
            keep = info
            try refuseIfInUse(target, snapshot: manifest.id, livePossible: (try? source.belongs(manifest, to: target)) ?? false)
            settleSideFiles(target)
        }
        let sides = ["-wal", "-shm", "-journal"].filter { FileSystem.exists(target + $0) }
        if !sides.isEmpty {
            let files = sides.map { name + $0 }.joined(separator: ", ")
            throw BackstopError.refused(
                "\(files) \(sides.count == 1 ? "is" : "are") beside \(target)\(keep == nil ? ", left from a database that is no longer there" : "") and cannot be settled: SQLite would apply \(sides.count == 1 ? "it" : "them") to the restored file and damage it; nothing was changed",
                remedy: .removeSideFiles(sides.map { target + $0 }))
        }

        let file = try SnapshotFile(manifest, in: source)
        let temporary = try TemporaryFile(in: directory, for: name)
        do {
            try file.decompressChecked(
                write: { bytes in try temporary.append(bytes) },
                progress: progress.map { p in { p(.decompressing, $0, $1) } })
        } catch let error as BackstopError {
            if error.isDiskFull {
                throw BackstopError.diskFull(path: directory, doing: "writing the restored database", outcome: "nothing was changed", store: false)
            }
            throw error
        }
        if let keep {
            if keep.st_uid != geteuid() || keep.st_gid != getegid() {
                guard fchown(temporary.fd, keep.st_uid, keep.st_gid) == 0 else {
                    throw BackstopError.refused("cannot give the restored file \(target)'s owner and group (uid \(keep.st_uid), gid \(keep.st_gid)); nothing was changed",
                                                remedy: .runAsOwner)
                }
            }
            fchmod(temporary.fd, keep.st_mode & 0o7777)
        }
        try temporary.sync()
        Fault.point("restore-to.before-rename")
        try temporary.commit(as: target)

        // Check it where it lies, as SQLite will open it there.
        try checkRestoredFile(target, manifest: manifest, notes: &notes)
        try? store?.record(JournalEntry(action: .restoreToFile, database: target, snapshot: manifest.id,
                                       details: "wrote the image of \(manifest.database) as of \(manifest.createdAt)"))
        return RestoreReport(restored: manifest, preRestore: nil, target: target,
                             durationMs: Int(Date().timeIntervalSince(started) * 1000), convertedPageSize: false, notes: notes)
    }

    /// Opens the restored file with SQLite at its final path: the page size, page count and schema must be
    /// the snapshot's, and no side file may have appeared.
    static func checkRestoredFile(_ target: String, manifest: Manifest, notes: inout [String]) throws {
        let sides = ["-wal", "-journal"].filter { FileSystem.exists(target + $0) }
        // Read-write although it only reads: a read-only connection to a WAL database leaves the -wal and
        // -shm it creates behind (it may not remove them), and they would block the next restore to this
        // path once the file is removed. As the last connection, this one removes them when it closes.
        let db = try Database(path: target, mode: .readWrite)
        let pageSize = try db.int("PRAGMA page_size"), pageCount = try db.int("PRAGMA page_count")
        _ = try db.int("SELECT count(*) FROM sqlite_schema")
        guard sides.isEmpty, pageSize == manifest.pageSize, pageCount == manifest.pageCount else {
            throw BackstopError.failed("\(target) does not read back as snapshot \(manifest.id) (page size \(pageSize), \(pageCount) pages\(sides.isEmpty ? "" : ", with \(sides.joined(separator: " and ")) beside it")); another process may be writing it")
        }
        if manifest.check == nil {
            let report = IntegrityCheck.run(on: db, quick: true)
            if report.ok == false { throw BackstopError.failed("\(target) fails PRAGMA quick_check: \(report.problems.prefix(3).joined(separator: "; "))") }
            if let reason = report.couldNotRun { notes.append("PRAGMA quick_check could not run on \(target): \(reason)") }
        }
    }

    /// Refuses to replace a database file that another process has open: one in a transaction (SQLite's
    /// own lock says so), or any process that holds it open (its descriptors, where the system shows them).
    static func refuseIfInUse(_ target: String, snapshot id: String, livePossible: Bool) throws {
        var users = FileSystem.processesHolding(target)
        if users.isEmpty, let db = try? Database(path: target, mode: .readWrite, busyTimeout: 0) {
            do {
                try db.execute("BEGIN EXCLUSIVE")
                try db.execute("ROLLBACK")
            } catch let error as SQLiteError where error.isBusy {
                users.append("another connection holds a lock on it")
            } catch {}
        }
        guard users.isEmpty else {
            throw BackstopError.refused("\(target) is in use (\(users.prefix(5).joined(separator: "; "))): replacing the file would leave that process writing a deleted copy; nothing was changed",
                                        remedy: livePossible ? .stopUserOrRestoreLive(database: target, snapshot: id) : .stopUserOrChooseAnotherPath)
        }
    }

    /// Lets SQLite settle an idle database's side files (checkpoint a WAL, roll back a hot journal), as
    /// its last connection would. What remains afterwards belongs to a user of the file.
    static func settleSideFiles(_ target: String) {
        guard ["-wal", "-shm", "-journal"].contains(where: { FileSystem.exists(target + $0) }) else { return }
        if let db = try? Database(path: target, mode: .readWrite, busyTimeout: 0) {
            _ = try? db.scalar("SELECT count(*) FROM sqlite_schema")
            try? db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        }
    }
}

/// Checksums of a snapshot read in order by the VFS as a restore copies it: every data member's
/// compressed bytes and block, then the index and trailer, compared with the manifest before the commit.
final class SequentialVerification: @unchecked Sendable {
    private let manifest: Manifest
    private let imageHash = SHA256Hasher()
    private let compressedHash = SHA256Hasher()
    private var nextMember: Int64 = 0
    private var imageBytes: Int64 = 0
    private var compressedOffset: Int64 = 0

    init(_ manifest: Manifest) { self.manifest = manifest }

    var member: (Int64, UnsafeRawBufferPointer, UnsafeRawBufferPointer) -> Void {
        { [self] index, member, block in
            guard index == nextMember else { return }
            compressedHash.update(member)
            imageHash.update(block)
            nextMember += 1
            imageBytes += Int64(block.count)
            compressedOffset += Int64(member.count)
        }
    }

    /// Reads (and decompresses) what the copy did not, hashes the rest of the file, and compares.
    func finish(_ file: SnapshotFile) throws {
        let read = file.reader
        let decompressor = GzipMemberDecompressor()
        while compressedOffset < file.size {
            var header = [UInt8](repeating: 0, count: 36)
            let n = try header.withUnsafeMutableBytes { try read($0, compressedOffset) }
            guard let parsed = header.withUnsafeBytes({ GzipMember.parseHeader(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }) else {
                throw BackstopError.verificationFailed(id: manifest.id, reason: "unexpected data at byte \(compressedOffset) of the file")
            }
            var member = [UInt8](repeating: 0, count: parsed.memberSize)
            guard try member.withUnsafeMutableBytes({ try read($0, compressedOffset) }) == parsed.memberSize else {
                throw BackstopError.verificationFailed(id: manifest.id, reason: "the file is truncated")
            }
            compressedHash.update(member)
            compressedOffset += Int64(parsed.memberSize)
            if parsed.blockSize > 0 {
                do {
                    let block = try decompressor.block(from: member, blockSize: parsed.blockSize)
                    imageHash.update(block)
                    imageBytes += Int64(block.count)
                } catch let error as GzipError {
                    throw BackstopError.verificationFailed(id: manifest.id, reason: error.description)
                }
            }
        }
        var problems: [String] = []
        if compressedHash.finalizeHex() != manifest.gzipSha256 {
            problems.append(file.isEncrypted ? "the decrypted gzip stream's SHA-256 does not match the manifest" : "the file's SHA-256 does not match the manifest")
        }
        if file.isEncrypted, try file.storedSHA256() != manifest.compressedSha256 {
            problems.append("the encrypted file's SHA-256 does not match the manifest")
        }
        if imageBytes != manifest.dbBytes { problems.append("the image has \(imageBytes) bytes, the manifest says \(manifest.dbBytes)") }
        if imageHash.finalizeHex() != manifest.sha256 { problems.append("the image's SHA-256 does not match the manifest") }
        if !problems.isEmpty {
            throw BackstopError.verificationFailed(id: manifest.id, reason: problems.joined(separator: "; ") + "; the restore was rolled back")
        }
    }
}
