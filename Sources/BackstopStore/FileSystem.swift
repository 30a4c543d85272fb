import BackstopCore
import BackstopCodec
import Foundation

/// File operations with the durability Backstop promises: every file appears atomically
/// (temporary file in the same directory, fsync, rename, fsync of the directory), and
/// everything in a store is private (0700 folders, 0600 files) whatever the umask.
public enum FileSystem {
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
    }

    public static func size(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    public static func modificationDate(_ path: String) -> Date? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(info.st_mtim.tv_sec) + TimeInterval(info.st_mtim.tv_nsec) / 1e9)
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

    /// Creates a private folder (0700) if missing, and makes an existing one private.
    public static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 {
            guard errno == EEXIST else { throw BackstopError.posix("create folder", path) }
            guard isDirectory(path) else { throw BackstopError.io(operation: "use as a folder", path: path, errno: ENOTDIR) }
        } else {
            fsyncDirectory((path as NSString).deletingLastPathComponent)
        }
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & 0o777 != 0o700 {
            guard chmod(path, 0o700) == 0 else { throw BackstopError.posix("make private", path) }
        }
    }

    /// Creates a new private file (0600) exclusively; fails if it exists.
    public static func createExclusive(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw BackstopError.posix("create", path) }
        fchmod(fd, 0o600)
        return fd
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
        let temporary = (directory as NSString).appendingPathComponent(
            TemporaryName.make(for: (path as NSString).lastPathComponent))
        let fd = try createExclusive(temporary)
        var closed = false
        defer {
            if !closed { close(fd) }
            unlink(temporary)
        }
        fchmod(fd, mode)
        try writeAll(fd, data, path: temporary)
        guard fsync(fd) == 0 else { throw BackstopError.posix("flush", temporary) }
        close(fd)
        closed = true
        if replace {
            try commitRename(temporary, path)
        } else {
            guard link(temporary, path) == 0 else {
                throw errno == EEXIST ? BackstopError.refused("\(path) already exists; nothing was changed", hint: "")
                    : BackstopError.posix("create", path)
            }
            fsyncDirectory(directory)
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
        catch { throw BackstopError.io(operation: "read folder", path: path, errno: ENOENT) }
    }
}

/// Names of temporary files: `.tmp.<pid>.<random>.<name>`. A later run recognizes them and,
/// once their writer is gone, removes them.
public enum TemporaryName {
    public static let prefix = ".tmp."

    public static func make(for name: String) -> String {
        "\(prefix)\(getpid()).\(UInt32.random(in: 0...UInt32.max)).\(name)"
    }

    /// The process id encoded in a temporary name, if `name` is one.
    public static func ownerPID(of name: String) -> Int32? {
        guard name.hasPrefix(prefix) else { return nil }
        let parts = name.dropFirst(prefix.count).split(separator: ".", maxSplits: 2)
        return parts.first.flatMap { Int32($0) }
    }

    /// True when the process that wrote `name` is no longer running (or the name is not ours).
    public static func writerIsGone(_ name: String) -> Bool {
        guard let pid = ownerPID(of: name) else { return true }
        return !ProcessInfo.isRunning(pid)
    }
}

extension ProcessInfo {
    /// True when a process with that id exists.
    public static func isRunning(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        return kill(pid, 0) == 0 || errno == EPERM
    }
}
