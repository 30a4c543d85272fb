import BackstopCodec
import BackstopSQLite
import BackstopCore
import Foundation

/// A folder of snapshots: `<id>.sqlite.gz` (or `.sqlite.gz.age`, encrypted) + `<id>.json` pairs, a `lock` file, a `sequence` counter, and
/// temporary files of runs in progress. A store Backstop creates is private (0700, files 0600); an
/// existing folder is used as it is (Backstop changes the mode of nothing it did not create) and a
/// warning says when others can read it. May hold several databases' snapshots.
///
/// Locking: runs that add snapshots or read them for a restore take the store's lock shared;
/// prune takes it exclusive, so it never removes or trips over a snapshot being written.
/// Listing and verifying take no lock: readers never wait.
public final class SnapshotStore: SnapshotRepository {
    public let path: String
    /// The store's mode when users other than its owner can read or enter it (a folder Backstop did not
    /// create, and so did not change), or nil.
    public let modeReadableByOthers: Int?

    /// The keys new snapshots are encrypted with and encrypted ones are read with.
    public let keys: SnapshotKeys

    public typealias Problem = StoreProblem

    public var location: String { path }

    /// Opens the store at `path`, creating it (private) when `create` is true.
    public init(path: String, create: Bool, keys: SnapshotKeys = SnapshotKeys()) throws {
        self.path = FileSystem.absolute(path)
        self.keys = keys
        if create {
            let parent = (self.path as NSString).deletingLastPathComponent
            // Never the parents: a missing parent may be the mount point of a backup disk that is not
            // mounted, and snapshots written there would fill the wrong disk.
            guard FileSystem.isDirectory(parent) else {
                throw BackstopError.invalidInput(
                    "cannot create the store \(self.path): its folder \(parent) does not exist (is its disk mounted?); Backstop creates the store but never the folders above it; nothing was changed")
            }
            try FileSystem.createPrivateDirectory(self.path)
        } else if !FileSystem.isDirectory(self.path) {
            throw BackstopError.snapshotNotFound("there is no snapshot store at \(self.path)")
        }
        var info = stat()
        if stat(self.path, &info) == 0, info.st_mode & 0o077 != 0 {
            modeReadableByOthers = Int(info.st_mode & 0o7777)
        } else {
            modeReadableByOthers = nil
        }
    }

    /// The default store of a database: a folder beside it named after it (`app.db.backstop`).
    public static func defaultPath(forDatabase database: String) -> String { database + ".backstop" }

    public func dataPath(_ manifest: Manifest) -> String { (path as NSString).appendingPathComponent(manifest.file) }
    public func manifestPath(id: String) -> String { (path as NSString).appendingPathComponent(Manifest.manifestName(for: id)) }
    /// The store's own files besides snapshots.
    public static let bookkeeping: Set<String> = ["lock", "sequence", "aliases.json", "journal.jsonl"]

    public var lockPath: String { (path as NSString).appendingPathComponent("lock") }
    public var sequencePath: String { (path as NSString).appendingPathComponent("sequence") }

    public func lock(_ mode: FileLock.Mode, wait: TimeInterval) throws -> FileLock {
        try FileLock(path: lockPath, mode: mode, wait: wait, what: "the snapshot store \(path)")
    }

    /// Held while a snapshot is pushed to a replica, so that two runs never upload the same snapshot at
    /// once (a copy encrypted for a replica differs from run to run): a lock on its data file, which is
    /// never rewritten (a pin rewrites the manifest) and which nothing else locks. Nil when the snapshot
    /// was removed meanwhile.
    public func lockForPush(_ manifest: Manifest, wait: TimeInterval) throws -> FileLock? {
        try FileLock.onExisting(dataPath(manifest), mode: .exclusive, wait: wait, what: "the push of snapshot \(manifest.id)")
    }

    // MARK: - Reading

    /// Every complete snapshot, in the order they were committed, and the files that are not complete snapshots.
    public func scan() throws -> (snapshots: [Manifest], problems: [Problem]) {
        let names = try FileSystem.listDirectory(path)
        let nameSet = Set(names)
        var snapshots: [Manifest] = []
        var problems: [Problem] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") && !SnapshotStore.bookkeeping.contains(name) {
            let id = String(name.dropLast(5))
            guard Manifest.isValidID(id) else { problems.append(Problem(file: name, reason: "not a snapshot manifest name")); continue }
            do {
                let manifest = try Manifest.decode(try FileSystem.readSmallFile((path as NSString).appendingPathComponent(name), limit: 1 << 20))
                guard manifest.id == id else { throw BackstopError.invalidInput("its id is \(manifest.id)") }
                guard nameSet.contains(manifest.file) else {
                    problems.append(Problem(file: name, reason: "its data file \(manifest.file) is missing"))
                    continue
                }
                var info = stat()
                guard lstat(dataPath(manifest), &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
                    problems.append(Problem(file: name, reason: "its data file \(manifest.file) is not a regular file"))
                    continue
                }
                snapshots.append(manifest)
            } catch {
                problems.append(Problem(file: name, reason: "cannot be read: \(error)"))
            }
        }
        for name in names where !name.hasPrefix(".") {
            guard let id = Manifest.id(ofDataFile: name) else { continue }
            if !nameSet.contains(Manifest.manifestName(for: id)) {
                problems.append(Problem(file: name, reason: "incomplete snapshot (no manifest)"))
            }
        }
        snapshots.sort(by: Manifest.committedBefore)
        return (snapshots, problems.sorted { $0.file < $1.file })
    }

    /// A local file is read to be checked: nothing is known of it without reading.
    public func storedSummary(_ manifest: Manifest) throws -> StoredSummary? { nil }

    /// The data file, opened once without following links; it stays readable while this is held, even
    /// if a prune removes it meanwhile.
    public func openStored(_ manifest: Manifest) throws -> SnapshotBytes {
        let path = dataPath(manifest)
        do {
            return try SnapshotVFS.fileBytes(path)
        } catch let error as SnapshotFileError where error.isMissing {
            throw BackstopError.snapshotGone(id: manifest.id, file: path)
        } catch let error as SnapshotFileError where error.isNotRegularFile {
            throw BackstopError.unsafeFile(path: path, reason: "a snapshot's data file must be a regular file, not a symbolic link, FIFO or device")
        } catch let error as SnapshotFileError {
            throw BackstopError.io(operation: "read", path: path, errno: error.errno)
        }
    }

    // MARK: - Writing

    /// Rewrites a manifest (pin, unpin) atomically.
    public func update(_ manifest: Manifest) throws {
        try manifest.validate()
        try FileSystem.writeAtomically(try manifest.encoded(), to: manifestPath(id: manifest.id))
    }

    /// Removes a whole snapshot: the manifest first, so a half-removed snapshot is never listed.
    public func remove(_ manifest: Manifest) throws {
        try FileSystem.removeDurably(manifestPath(id: manifest.id))
        try FileSystem.removeDurably(dataPath(manifest))
    }

    /// The next number in the store's commit order. The counter lives in `sequence`, updated under its own
    /// short lock, so concurrent snapshot runs never share a number; when it is missing (a store written
    /// by an earlier version), it starts after the highest sequence any manifest has.
    public func nextSequence() throws -> Int64 {
        let fd = try FileLock.openLockFile(sequencePath)
        defer { close(fd) }
        while flock(fd, LOCK_EX) != 0 {
            guard errno == EINTR else { throw BackstopError.posix("lock", sequencePath) }
        }
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = try buffer.withUnsafeMutableBytes { try FileSystem.readFully(fd, $0, at: 0, path: sequencePath) }
        let text = String(decoding: buffer.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        var last = Int64(text) ?? 0
        if Int64(text) == nil {
            last = try scan().snapshots.compactMap(\.sequence).max() ?? 0
        }
        let next = last + 1
        let record = Array("\(next)\n".utf8)
        guard ftruncate(fd, 0) == 0 else { throw BackstopError.posix("write", sequencePath) }
        try record.withUnsafeBytes { raw in
            guard pwrite(fd, raw.baseAddress, raw.count, 0) == raw.count else { throw BackstopError.posix("write", sequencePath) }
        }
        guard fsync(fd) == 0 else { throw BackstopError.posix("flush", sequencePath) }
        return next
    }

    /// How long an orphaned data file must sit before a later run removes it.
    public static let staleAge: TimeInterval = 3600

    /// Removes temporary files whose owner is gone (see ``TemporaryFile``), and data files without a
    /// manifest that are older than ``staleAge`` and not held by a run. Returns the names removed.
    @discardableResult
    public func removeStaleFiles(now: Date = Date(), dryRun: Bool = false) -> [String] {
        var removed = TemporaryFile.removeStale(in: path, now: now, dryRun: dryRun)
        guard let names = try? FileSystem.listDirectory(path) else { return removed }
        let nameSet = Set(names)
        for name in names where !name.hasPrefix(".") {
            guard let id = Manifest.id(ofDataFile: name), !nameSet.contains(Manifest.manifestName(for: id)) else { continue }
            let full = (path as NSString).appendingPathComponent(name)
            guard let modified = FileSystem.modificationDate(full), now.timeIntervalSince(modified) > SnapshotStore.staleAge else { continue }
            let fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { continue }
            let free = flock(fd, LOCK_EX | LOCK_NB) == 0
            close(fd)
            if free, dryRun || unlink(full) == 0 { removed.append(name) }
        }
        if !removed.isEmpty && !dryRun { FileSystem.fsyncDirectory(path) }
        return removed
    }

    /// A new temporary file in the store, for a snapshot being written.
    public func temporaryFile(for name: String) throws -> TemporaryFile {
        try TemporaryFile(in: path, for: name)
    }
}
