import BackstopCore
import Foundation

/// One thing Backstop did to a database, as the store's journal records it.
public struct JournalEntry: Codable, Equatable, Sendable {
    public enum Action: String, Codable, Sendable, CaseIterable {
        case snapshot, restore, restoreToFile = "restore-to-file", rollback, recover, migrate, run, down, baseline,
             repair, prune, pin, unpin, adopt
    }

    public var time: String
    public var action: Action
    /// The database acted on (absolute path), or nil for store-wide actions (prune).
    public var database: String?
    /// The snapshot acted on or created.
    public var snapshot: String?
    /// The snapshot taken first to undo the action (pre-restore, pre-migration ...).
    public var safetySnapshot: String?
    public var user: String
    public var host: String
    public var pid: Int32
    /// What happened, in a few words (versions, counts, the command a migrator ran ...).
    public var details: String?

    public init(action: Action, database: String?, snapshot: String? = nil, safetySnapshot: String? = nil,
                details: String? = nil, at date: Date = Date()) {
        time = Timestamp.rfc3339(date)
        self.action = action
        self.database = database
        self.snapshot = snapshot
        self.safetySnapshot = safetySnapshot
        self.details = details
        user = JournalEntry.currentUser
        host = ProcessInfo.processInfo.hostName
        pid = getpid()
    }

    static var currentUser: String {
        if let entry = getpwuid(geteuid()), let name = entry.pointee.pw_name { return String(cString: name) }
        return "uid \(geteuid())"
    }

    enum CodingKeys: String, CodingKey {
        case time, action, database, snapshot, safetySnapshot = "safety_snapshot", user, host, pid, details
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(time, forKey: .time)
        try c.encode(action, forKey: .action)
        try c.encode(database, forKey: .database)
        try c.encode(snapshot, forKey: .snapshot)
        try c.encode(safetySnapshot, forKey: .safetySnapshot)
        try c.encode(user, forKey: .user)
        try c.encode(host, forKey: .host)
        try c.encode(pid, forKey: .pid)
        try c.encode(details, forKey: .details)
    }
}

extension SnapshotStore {
    public var journalPath: String { (path as NSString).appendingPathComponent("journal.jsonl") }

    /// Appends an entry to the store's journal (`journal.jsonl`, one JSON object per line): one `write`
    /// with `O_APPEND`, then fsync, so concurrent runs never interleave and a crash can only lose a
    /// whole last line, which readers skip.
    public func record(_ entry: JournalEntry) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var line = try encoder.encode(entry)
        line.append(UInt8(ascii: "\n"))
        var fd = open(journalPath, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        var created = false
        if fd >= 0 {
            fchmod(fd, 0o600)
            created = true
        } else if errno == EEXIST {
            fd = try FileSystem.openRegularFile(journalPath, flags: O_WRONLY | O_APPEND)
        } else {
            throw BackstopError.posix("create", journalPath)
        }
        defer { close(fd) }
        try FileSystem.writeAll(fd, line, path: journalPath)
        guard fsync(fd) == 0 else { throw BackstopError.posix("flush", journalPath) }
        // A new file's name is durable once its folder is flushed.
        if created { FileSystem.fsyncDirectory(path) }
    }

    /// The journal's entries, oldest first (lines that cannot be read, such as one cut by a crash, are skipped).
    public func journal() throws -> [JournalEntry] {
        guard FileSystem.exists(journalPath) else { return [] }
        let data = try FileSystem.readSmallFile(journalPath, limit: 256 << 20)
        let decoder = JSONDecoder()
        return data.split(separator: UInt8(ascii: "\n")).compactMap { try? decoder.decode(JournalEntry.self, from: Data($0)) }
    }
}

/// Databases that moved: the store records that snapshots taken of an old path belong to the database now
/// at a new path (`aliases.json`). A database is otherwise recognised by its absolute path.
public struct DatabaseAlias: Codable, Equatable, Sendable {
    public var from: String
    public var to: String
    public var adoptedAt: String

    enum CodingKeys: String, CodingKey { case from, to, adoptedAt = "adopted_at" }

    /// `aliases.json`, in a local store or on a replica: `{"aliases": [...]}`.
    private struct File: Codable { var aliases: [DatabaseAlias] }

    /// Reads an `aliases.json`; `source` names it in the error.
    public static func decodeFile(_ data: Data, source: String) throws -> [DatabaseAlias] {
        do { return try JSONDecoder().decode(File.self, from: data).aliases } catch {
            throw BackstopError.invalidInput("\(source) cannot be read: \(error)")
        }
    }

    public static func encodeFile(_ aliases: [DatabaseAlias]) throws -> Data {
        try StoreJSON.encode(File(aliases: aliases))
    }
}

/// How the stores' JSON files are written (manifests, `aliases.json`, a replica's lease): pretty, keys
/// sorted, slashes as they are, one line ending, so that they read well and compare byte for byte.
public enum StoreJSON {
    public static func encode<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value) + Data("\n".utf8)
    }
}

extension SnapshotStore {
    public var aliasesPath: String { (path as NSString).appendingPathComponent("aliases.json") }

    /// The recorded moves, in the order they were adopted.
    public func aliases() throws -> [DatabaseAlias] {
        guard FileSystem.exists(aliasesPath) else { return [] }
        return try DatabaseAlias.decodeFile(try FileSystem.readSmallFile(aliasesPath, limit: 1 << 20), source: aliasesPath)
    }

    /// Records that snapshots of `old` are those of `new` (atomically; the caller holds the store's lock).
    public func adopt(from old: String, to new: String) throws {
        var aliases = try self.aliases().filter { $0.from != old }
        aliases.append(DatabaseAlias(from: old, to: new, adoptedAt: Timestamp.rfc3339(Date())))
        try FileSystem.writeAtomically(try DatabaseAlias.encodeFile(aliases), to: aliasesPath)
    }

    /// The path a database recorded as `path` is known by now, following recorded moves.
    public static func identity(of path: String, aliases: [DatabaseAlias]) -> String {
        var current = path
        var seen: Set<String> = [path]
        while let next = aliases.last(where: { $0.from == current })?.to, seen.insert(next).inserted { current = next }
        return current
    }
}
