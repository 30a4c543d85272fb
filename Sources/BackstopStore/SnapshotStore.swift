import BackstopCore
import BackstopCodec
import Foundation

/// A folder of snapshots: `<id>.sqlite.gz` + `<id>.json` pairs, a `lock` file, and temporary
/// files of runs in progress. Created private (0700, files 0600). May hold several databases' snapshots.
///
/// Locking: runs that add snapshots or read them for a restore take the store's lock shared;
/// prune takes it exclusive, so it never removes or trips over a snapshot being written.
/// Listing and verifying take no lock: readers never wait.
public final class SnapshotStore {
    public let path: String

    /// A file in the store that is not part of a complete snapshot.
    public struct Problem: Equatable, Sendable {
        public var file: String
        public var reason: String
    }

    /// Opens the store at `path`, creating it (private) when `create` is true.
    public init(path: String, create: Bool) throws {
        self.path = FileSystem.absolute(path)
        if create {
            let parent = (self.path as NSString).deletingLastPathComponent
            guard FileSystem.isDirectory(parent) else {
                throw BackstopError.io(operation: "create the store", path: self.path, errno: ENOENT)
            }
            try FileSystem.makePrivateDirectory(self.path)
        } else if !FileSystem.isDirectory(self.path) {
            throw BackstopError.snapshotNotFound("there is no snapshot store at \(self.path)")
        }
    }

    /// The default store of a database: a folder beside it named after it (`app.db.backstop`).
    public static func defaultPath(forDatabase database: String) -> String { database + ".backstop" }

    public func dataPath(_ manifest: Manifest) -> String { (path as NSString).appendingPathComponent(manifest.file) }
    public func manifestPath(id: String) -> String { (path as NSString).appendingPathComponent(Manifest.manifestName(for: id)) }
    public var lockPath: String { (path as NSString).appendingPathComponent("lock") }

    public func lock(_ mode: FileLock.Mode, wait: TimeInterval) throws -> FileLock {
        try FileLock(path: lockPath, mode: mode, wait: wait, what: "the snapshot store \(path)")
    }

    // MARK: - Reading

    /// Every complete snapshot, oldest first (by id), and the files that are not complete snapshots.
    public func scan() throws -> (snapshots: [Manifest], problems: [Problem]) {
        let names = try FileSystem.listDirectory(path)
        let nameSet = Set(names)
        var snapshots: [Manifest] = []
        var problems: [Problem] = []
        for name in names where name.hasSuffix(".json") && !name.hasPrefix(".") {
            let id = String(name.dropLast(5))
            guard Manifest.isValidID(id) else { problems.append(Problem(file: name, reason: "not a snapshot manifest name")); continue }
            do {
                let data = try Data(contentsOf: URL(fileURLWithPath: (path as NSString).appendingPathComponent(name)))
                let manifest = try Manifest.decode(data)
                guard manifest.id == id else { throw BackstopError.invalidInput("its id is \(manifest.id)") }
                guard nameSet.contains(manifest.file) else {
                    problems.append(Problem(file: name, reason: "its data file \(manifest.file) is missing"))
                    continue
                }
                snapshots.append(manifest)
            } catch {
                problems.append(Problem(file: name, reason: "cannot be read: \(error)"))
            }
        }
        for name in names where name.hasSuffix(".sqlite.gz") && !name.hasPrefix(".") {
            let id = String(name.dropLast(".sqlite.gz".count))
            if !nameSet.contains(Manifest.manifestName(for: id)) {
                problems.append(Problem(file: name, reason: "incomplete snapshot (no manifest)"))
            }
        }
        snapshots.sort { $0.id < $1.id }
        return (snapshots, problems.sorted { $0.file < $1.file })
    }

    /// Complete snapshots, oldest first; of one database only when `database` is given.
    public func snapshots(ofDatabase database: String? = nil) throws -> [Manifest] {
        let all = try scan().snapshots
        guard let database else { return all }
        return all.filter { $0.database == database }
    }

    /// The snapshot with this id (or unique id prefix).
    public func snapshot(id: String) throws -> Manifest {
        let all = try scan().snapshots
        if let exact = all.first(where: { $0.id == id }) { return exact }
        let matches = all.filter { $0.id.hasPrefix(id) }
        if matches.count == 1, id.count >= 8 { return matches[0] }
        if matches.count > 1 {
            throw BackstopError.invalidInput("'\(id)' matches \(matches.count) snapshots: \(matches.prefix(5).map(\.id).joined(separator: ", "))")
        }
        throw BackstopError.snapshotNotFound("no snapshot '\(id)' in \(path)")
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

    /// How long an orphaned file must sit before a later run removes it.
    public static let staleAge: TimeInterval = 3600

    /// Removes temporary files whose writer has exited, and data files without a manifest that are
    /// older than ``staleAge``. Returns the names removed.
    @discardableResult
    public func removeStaleFiles(now: Date = Date(), dryRun: Bool = false) -> [String] {
        guard let names = try? FileSystem.listDirectory(path) else { return [] }
        let nameSet = Set(names)
        var removed: [String] = []
        for name in names {
            let full = (path as NSString).appendingPathComponent(name)
            let age = now.timeIntervalSince(FileSystem.modificationDate(full) ?? now)
            let stale: Bool
            if name.hasPrefix(TemporaryName.prefix) {
                stale = TemporaryName.writerIsGone(name) || age > 7 * 86400
            } else if name.hasSuffix(".sqlite.gz") {
                let id = String(name.dropLast(".sqlite.gz".count))
                stale = Manifest.isValidID(id) && !nameSet.contains(Manifest.manifestName(for: id)) && age > SnapshotStore.staleAge
            } else {
                stale = false
            }
            if stale, dryRun || unlink(full) == 0 { removed.append(name) }
        }
        if !removed.isEmpty { FileSystem.fsyncDirectory(path) }
        return removed
    }

    /// A new temporary file in the store, named so that a later run can clean it up.
    public func temporaryPath(for name: String) -> String {
        (path as NSString).appendingPathComponent(TemporaryName.make(for: name))
    }
}
