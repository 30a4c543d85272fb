import BackstopCore
import BackstopCodec
import Foundation

/// An advisory lock on a file (`flock`), shared or exclusive, taken with a bounded wait.
///
/// The lock file also records its current exclusive holder (pid, command, time) so that a
/// waiting run can say who holds it, and a run that finds the record of a process that is no
/// longer running reports that it took the lock over. The kernel releases `flock` locks when a
/// process dies, so a killed run can never leave a lock that blocks others.
public final class FileLock {
    public enum Mode: Sendable { case shared, exclusive }

    public let path: String
    public let mode: Mode
    private var fd: Int32
    /// Set when the lock was left by a process that is no longer running: who that was.
    public private(set) var tookOverFrom: String?
    /// What the lock protects, in words ("the snapshot store /var/backups/app").
    public let what: String

    /// False for a lock taken on a file that holds something else (a snapshot's data file): no holder
    /// record is written.
    private let keepsRecord: Bool

    /// Takes the lock, waiting up to `wait` seconds. Throws ``BackstopError/locked(what:holder:waited:)``.
    public convenience init(path: String, mode: Mode, wait: TimeInterval, what: String) throws {
        try self.init(fd: try FileLock.openLockFile(path), path: path, mode: mode, wait: wait, what: what, keepsRecord: true)
    }

    /// Locks a file that exists for its own sake (a snapshot's data file, while it is pushed), read-only and
    /// never through a symbolic link; nothing is written to it. Nil when the file is gone.
    public static func onExisting(_ path: String, mode: Mode, wait: TimeInterval, what: String) throws -> FileLock? {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw BackstopError.posix("open", path)
        }
        return try FileLock(fd: fd, path: path, mode: mode, wait: wait, what: what, keepsRecord: false)
    }

    private init(fd: Int32, path: String, mode: Mode, wait: TimeInterval, what: String, keepsRecord: Bool) throws {
        self.path = path
        self.mode = mode
        self.what = what
        self.fd = fd
        self.keepsRecord = keepsRecord
        let operation = (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB
        let start = Date()
        while flock(fd, operation) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else {
                let code = errno
                close(fd)
                throw BackstopError.io(operation: "lock", path: path, errno: code)
            }
            let waited = Date().timeIntervalSince(start)
            if waited >= wait {
                let holder = keepsRecord ? FileLock.describeHolder(fd: fd) : "another Backstop run"
                close(fd)
                throw BackstopError.locked(what: what, holder: holder, waited: waited)
            }
            usleep(50_000)
        }
        guard keepsRecord else { return }
        // A record left by an exclusive holder that is gone means that run was killed.
        if let record = FileLock.readRecord(fd: fd), let pid = record.pid, pid != getpid(),
           !ProcessInfo.isRunning(pid) {
            tookOverFrom = "process \(pid) (\(record.command)), which held it since \(record.since), is no longer running"
        }
        if mode == .exclusive { writeRecord() } else if tookOverFrom != nil { clearRecord() }
    }

    deinit { release() }

    /// Opens the lock file, creating it (0600) if missing. Never through a symbolic link, never a FIFO,
    /// device or a file with other names (a hard link): whoever can write the folder could plant one
    /// where the lock belongs, and a run as root would then write into its target.
    static func openLockFile(_ path: String) throws -> Int32 {
        var fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        if fd >= 0 {
            fchmod(fd, 0o600)   // created by this run
            FileSystem.fsyncDirectory((path as NSString).deletingLastPathComponent)
            return fd
        }
        guard errno == EEXIST else { throw BackstopError.posix("create the lock file", path) }
        fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw BackstopError.unsafeFile(path: path, reason: "the lock file is a symbolic link") }
            throw BackstopError.posix("open the lock file", path)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_nlink == 1 else {
            close(fd)
            throw BackstopError.unsafeFile(path: path, reason: "the lock file is not a plain file of its own (a FIFO, a device, or a hard link to another file)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return fd
    }

    public func release() {
        guard fd >= 0 else { return }
        if mode == .exclusive && keepsRecord { clearRecord() }
        flock(fd, LOCK_UN)
        close(fd)
        fd = -1
    }

    // MARK: - The holder record

    private struct Record { var pid: Int32?; var command: String; var since: String }

    private func writeRecord() {
        let command = CommandLine.arguments.prefix(2).map { ($0 as NSString).lastPathComponent }.joined(separator: " ")
        let text = "pid=\(getpid())\ncommand=\(command)\nsince=\(Timestamp.rfc3339(Date()))\n"
        ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        fsync(fd)
    }

    private func clearRecord() { ftruncate(fd, 0) }

    private static func readRecord(fd: Int32) -> Record? {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        var record = Record(pid: nil, command: "unknown command", since: "an unknown time")
        for line in String(decoding: buffer.prefix(n), as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            switch parts[0] {
            case "pid": record.pid = Int32(parts[1])
            case "command": record.command = parts[1]
            case "since": record.since = parts[1]
            default: break
            }
        }
        return record.pid == nil ? nil : record
    }

    private static func describeHolder(fd: Int32) -> String {
        guard let record = readRecord(fd: fd), let pid = record.pid else {
            return "another Backstop run that reads or writes it"
        }
        return "another Backstop run (pid \(pid), \(record.command), since \(record.since))"
    }
}
