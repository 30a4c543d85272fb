import BackstopCore
import CBackstopSignals
import Foundation

/// File operations with the durability and care Backstop promises:
/// - every file appears atomically (temporary file in the same folder, fsync, rename, fsync of the folder);
/// - files Backstop creates are private (0600, folders 0700) whatever the umask, and Backstop changes the
///   mode of nothing it did not create;
/// - nothing Backstop opens for writing, and no snapshot file it reads, is reached through a symbolic link
///   (`O_NOFOLLOW`), and nothing that is not a regular file (a FIFO, a device) is read or written.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    /// True when `path` itself (not what it points at) is a symbolic link.
    public static func isSymbolicLink(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
    }

    public static func size(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    public static func modificationDate(_ path: String) -> Date? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
    }

    /// Bytes free for an unprivileged writer in the file system holding `path`.
    public static func freeBytes(_ path: String) -> Int64? {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { return nil }
        return Int64(info.f_bavail) * Int64(info.f_frsize)
    }

    /// Absolute, normalized path (symbolic links in existing parents resolved).
    public static func absolute(_ path: String, relativeTo base: String? = nil) -> String {
        let expanded = (path as NSString).expandingTildeInPath
        let joined = expanded.hasPrefix("/") ? expanded
            : ((base ?? FileManager.default.currentDirectoryPath) as NSString).appendingPathComponent(expanded)
        let standardized = (joined as NSString).standardizingPath
        if let resolved = realpath(standardized, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        // The file may not exist yet: resolve its folder.
        let parent = (standardized as NSString).deletingLastPathComponent
        if let resolved = realpath(parent, nil) {
            defer { free(resolved) }
            return (String(cString: resolved) as NSString).appendingPathComponent((standardized as NSString).lastPathComponent)
        }
        return standardized
    }

    /// True when `path` is an existing regular file of zero bytes (for SQLite, a valid empty database).
    public static func isEmptyFile(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && info.st_size == 0
    }

    /// Creates a private folder (0700, whatever the umask). Returns false when it already existed, in
    /// which case its mode is left exactly as it is (Backstop changes only what it creates).
    @discardableResult
    public static func createPrivateDirectory(_ path: String) throws -> Bool {
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST else { throw BackstopError.posix("create folder", path) }
            guard isDirectory(path) else { throw BackstopError.io(operation: "use as a folder", path: path, errno: ENOTDIR) }
            return false
        }
        // mkdir applies the umask; 0700 is what was asked, on a folder this run just made (never through
        // a link someone put in its place meanwhile).
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd >= 0 {
            fchmod(fd, 0o700)
            close(fd)
        }
        fsyncDirectory((path as NSString).deletingLastPathComponent)
        return true
    }

    /// Creates a new private file (0600) exclusively; fails if anything, even a dangling link, is there.
    public static func createExclusive(_ path: String, mode: mode_t = 0o600) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard fd >= 0 else { throw BackstopError.posix("create", path) }
        fchmod(fd, mode)   // a file this run just created: its mode is ours to set
        return fd
    }

    /// Opens a file that must be a regular file, never through a symbolic link and never blocking on a
    /// FIFO. Throws ``BackstopError/unsafeFile(path:reason:)`` for anything else at that path.
    public static func openRegularFile(_ path: String, flags: Int32 = O_RDONLY) throws -> Int32 {
        let fd = open(path, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw BackstopError.unsafeFile(path: path, reason: "it is a symbolic link") }
            throw BackstopError.posix("open", path)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw BackstopError.unsafeFile(path: path, reason: "it is not a regular file")
        }
        // Reads and writes block normally from here on.
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    /// Reads a small regular file whole (a manifest, a configuration), refusing links, FIFOs and devices.
    public static func readSmallFile(_ path: String, limit: Int = 16 << 20) throws -> Data {
        let fd = try openRegularFile(path)
        defer { close(fd) }
        var info = stat()
        fstat(fd, &info)
        guard info.st_size <= limit else { throw BackstopError.invalidInput("\(path) is larger than \(limit) bytes") }
        var data = Data(count: Int(info.st_size))
        let n = try data.withUnsafeMutableBytes { try readFully(fd, $0, at: 0, path: path) }
        return data.prefix(n)
    }

    public static func fsyncDirectory(_ path: String) {
        let fd = open(path.isEmpty ? "." : path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// Renames `from` to `to` (same folder) and makes the rename durable.
    public static func commitRename(_ from: String, _ to: String) throws {
        guard rename(from, to) == 0 else { throw BackstopError.posix("rename into place", to) }
        fsyncDirectory((to as NSString).deletingLastPathComponent)
    }

    /// Writes `data` to `path` atomically and durably (temporary file in the same folder, fsync,
    /// rename, fsync of the folder), as a 0600 file unless `mode` says otherwise. With `replace`
    /// false, an existing file is never replaced.
    public static func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o600, replace: Bool = true) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = try TemporaryFile(in: directory, for: (path as NSString).lastPathComponent, mode: mode)
        try writeAll(temporary.fd, data, path: temporary.path)
        try temporary.sync()
        if replace {
            try temporary.commit(as: path)
        } else {
            try temporary.commitNew(as: path)
        }
    }

    public static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        try data.withUnsafeBytes { raw in
            try writeAll(fd, UnsafeRawBufferPointer(raw), path: path)
        }
    }

    public static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < buffer.count {
            let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw BackstopError.posix("write", path)
            }
            offset += n
        }
    }

    /// Reads up to `buffer.count` bytes at `offset`, retrying short reads; returns the count (0 at end).
    public static func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, at offset: Int64, path: String) throws -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw BackstopError.posix("read", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// Removes a file and makes the removal durable. A file that is already gone is fine.
    public static func removeDurably(_ path: String) throws {
        if unlink(path) != 0 && errno != ENOENT { throw BackstopError.posix("remove", path) }
        fsyncDirectory((path as NSString).deletingLastPathComponent)
    }

    public static func listDirectory(_ path: String) throws -> [String] {
        do { return try FileManager.default.contentsOfDirectory(atPath: path) }
        catch { throw BackstopError.io(operation: "read folder", path: path, errno: FileSystem.exists(path) ? EACCES : ENOENT) }
    }
}

/// A temporary file that a run writes before committing it under its real name:
/// `.tmp.<pid>.<random>.<name>` in the same folder, created exclusively (0600), locked with `flock` by
/// its owner for as long as it exists, and removed if a signal ends the run. A later run removes
/// temporary files only when it can take that lock (the owner is gone) and the file is old enough
/// that no owner can be between creating and locking it: a live run's file is never removed.
public final class TemporaryFile {
    public static let prefix = ".tmp."
    /// How old an unlocked temporary file must be before another run removes it.
    public static let staleAfter: TimeInterval = 60

    public let path: String
    public private(set) var fd: Int32
    private var cleanupSlot: Int32 = -1
    private var committed = false
    private var published = false

    public init(in directory: String, for name: String, mode: mode_t = 0o600) throws {
        bk_cleanup_install()
        // Where the file system allows it, the file is created without a name (O_TMPFILE), locked, and only
        // then linked in: no other run can ever see it unlocked.
        let unnamed = open(directory, TemporaryFile.O_TMPFILE | O_RDWR | O_CLOEXEC, mode)
        var created: (path: String, fd: Int32)?
        if unnamed >= 0 {
            flock(unnamed, LOCK_EX | LOCK_NB)
            fchmod(unnamed, mode)
            for _ in 0..<8 {
                let candidate = (directory as NSString).appendingPathComponent(TemporaryFile.name(for: name))
                if linkat(AT_FDCWD, "/proc/self/fd/\(unnamed)", AT_FDCWD, candidate, AT_SYMLINK_FOLLOW) == 0 {
                    created = (candidate, unnamed)
                    break
                }
                if errno != EEXIST { break }
            }
            if created == nil { close(unnamed) }
        }
        if let created {
            path = created.path
            fd = created.fd
        } else {
            path = (directory as NSString).appendingPathComponent(TemporaryFile.name(for: name))
            fd = try FileSystem.createExclusive(path, mode: mode)
            flock(fd, LOCK_EX | LOCK_NB)
        }
        cleanupSlot = bk_cleanup_add(path)
    }

    /// `O_TMPFILE` (Linux; Swift does not import the macro): an unnamed file in the given folder.
    static let O_TMPFILE: Int32 = 0o20000000 | O_DIRECTORY

    deinit { discard() }

    static func name(for name: String) -> String {
        "\(prefix)\(getpid()).\(UInt32.random(in: 0...UInt32.max)).\(name)"
    }

    public func sync() throws {
        guard fsync(fd) == 0 else { throw BackstopError.posix("flush", path) }
    }

    /// Bytes appended so far by ``append(_:)``.
    public private(set) var appended: Int64 = 0
    private var writebackStarted: Int64 = 0
    /// How much is appended before the kernel is asked to start writing it out.
    static let writebackStep: Int64 = 16 << 20

    /// Appends `bytes`, and asks the kernel to start writing out each 16 MiB as it fills
    /// (`sync_file_range`, without waiting): the disk works while the caller computes the rest, so the
    /// final ``sync()`` has little left to wait for. Durability still comes from that `fsync` alone.
    public func append(_ bytes: UnsafeRawBufferPointer) throws {
        try FileSystem.writeAll(fd, bytes, path: path)
        appended += Int64(bytes.count)
        if appended - writebackStarted >= TemporaryFile.writebackStep {
            _ = bk_start_writeback(fd, writebackStarted, appended - writebackStarted)
            writebackStarted = appended
        }
    }

    /// Renames the file over `target` (replacing what is there) and makes it durable.
    public func commit(as target: String) throws {
        try FileSystem.commitRename(path, target)
        finished()
    }

    /// Links the file in as `target`, which must not exist, and makes it durable.
    public func commitNew(as target: String) throws {
        guard link(path, target) == 0 else {
            throw errno == EEXIST ? BackstopError.alreadyExists(path: target) : BackstopError.posix("create", target)
        }
        unlink(path)
        FileSystem.fsyncDirectory((target as NSString).deletingLastPathComponent)
        finished()
    }

    /// Links the file in as `target` if nothing is there (returns false if something is), keeping it open
    /// and locked: until ``discard()``, no other run takes `target` for an orphan, and a fatal signal
    /// removes it. The temporary name is gone.
    public func publish(as target: String) throws -> Bool {
        guard link(path, target) == 0 else {
            if errno == EEXIST { return false }
            throw BackstopError.posix("create", target)
        }
        unlink(path)
        FileSystem.fsyncDirectory((target as NSString).deletingLastPathComponent)
        published = true
        if cleanupSlot >= 0 { bk_cleanup_remove(cleanupSlot) }
        cleanupSlot = bk_cleanup_add(target)
        return true
    }

    /// Removes the file (unless it was committed or published) and releases its lock.
    public func discard() {
        if !committed && !published && fd >= 0 { unlink(path) }
        finished()
    }

    private func finished() {
        committed = true
        if cleanupSlot >= 0 { bk_cleanup_remove(cleanupSlot); cleanupSlot = -1 }
        if fd >= 0 { close(fd); fd = -1 }
    }

    /// True when `name` looks like a temporary file of Backstop's.
    public static func isTemporaryName(_ name: String) -> Bool {
        guard name.hasPrefix(prefix) else { return false }
        let parts = name.dropFirst(prefix.count).split(separator: ".", maxSplits: 2)
        return parts.count == 3 && Int32(parts[0]) != nil && UInt32(parts[1]) != nil
    }

    /// Removes the temporary files in `directory` (those for `name` only, when given) whose owner is gone:
    /// their lock can be taken, and the process named in them is not running here (or they are older than
    /// ``staleAfter``, for an owner in another process namespace, where its pid means nothing here; the
    /// age also covers an owner on a file system without O_TMPFILE, between creating and locking).
    /// Returns the names removed.
    @discardableResult
    public static func removeStale(in directory: String, for name: String? = nil, now: Date = Date(), dryRun: Bool = false) -> [String] {
        guard let names = try? FileSystem.listDirectory(directory) else { return [] }
        var removed: [String] = []
        for entry in names where isTemporaryName(entry) {
            if let name, !entry.hasSuffix("." + name) { continue }
            let full = (directory as NSString).appendingPathComponent(entry)
            guard let modified = FileSystem.modificationDate(full) else { continue }
            let owner = Int32(entry.dropFirst(prefix.count).split(separator: ".")[0]) ?? 0
            guard !ProcessInfo.isRunning(owner) || now.timeIntervalSince(modified) > staleAfter else { continue }
            let fd = open(full, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var info = stat()
            guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }
            if dryRun || unlink(full) == 0 { removed.append(entry) }
        }
        if !removed.isEmpty && !dryRun { FileSystem.fsyncDirectory(directory) }
        return removed
    }
}

extension FileSystem {
    /// The processes (other than this one) that have `path` open, as "pid N (command)", where the system
    /// shows them (/proc on Linux: every process for root, one's own otherwise).
    /// Who holds a busy database, in words: "another connection writing to it (open in pid 412 (gunicorn))".
    public static func busyHolder(_ path: String, doing: String = "writing to it") -> String {
        let users = processesHolding(path)
        guard !users.isEmpty else { return "another connection \(doing)" }
        let listed = users.prefix(3).joined(separator: ", ") + (users.count > 3 ? " and \(users.count - 3) more" : "")
        return "another connection \(doing) (open in \(listed))"
    }

    public static func processesHolding(_ path: String) -> [String] {
        processHolders(path).map { "pid \($0.pid) (\($0.command))" }
    }

    /// The processes (other than this one) that have `path` open, with their program names.
    public static func processHolders(_ path: String) -> [(pid: Int32, command: String)] {
        var target = stat()
        guard stat(path, &target) == 0, let pids = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var found: [(pid: Int32, command: String)] = []
        for pid in pids.compactMap({ Int32($0) }).sorted() where pid != getpid() {
            guard let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd") else { continue }
            let holds = fds.contains { fd in
                var info = stat()
                return stat("/proc/\(pid)/fd/\(fd)", &info) == 0 && info.st_dev == target.st_dev && info.st_ino == target.st_ino
            }
            if holds {
                // The program's name from its command line (comm is cut at 15 bytes).
                let argv0 = (try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")))
                    .map { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }.map { ($0 as NSString).lastPathComponent }
                let comm = (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
                found.append((pid, argv0.flatMap { $0.isEmpty ? nil : $0 } ?? comm ?? "?"))
            }
        }
        return found
    }

    /// True when `pid` is a descendant of this process (a command it started, or that command's children).
    public static func isDescendantOfThisProcess(_ pid: Int32) -> Bool {
        var current = pid
        for _ in 0..<64 {
            guard let stat = try? String(contentsOfFile: "/proc/\(current)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, let parent = Int32(fields[1]) else { return false }
            if parent == getpid() { return true }
            if parent <= 1 { return false }
            current = parent
        }
        return false
    }
}

extension ProcessInfo {
    /// True when a process with that id exists.
    public static func isRunning(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
