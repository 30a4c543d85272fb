import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// An applied migration whose edited file `repair` accepted.
public struct RepairedMigration: Sendable, Equatable {
    public var version: Int64
    public var name: String
    public var file: String
    /// The file's name without `.sql` ("0003_merge_profiles").
    public var displayName: String { ((file as NSString).lastPathComponent as NSString).deletingPathExtension }
    public var oldChecksum: String
    public var newChecksum: String
}

extension Migrator {
    /// Accepts intentionally edited applied migrations (Flyway's `repair`): records each file's new checksum
    /// in the history and keeps the old one, in one transaction, so that drift checks are clean again.
    /// Migrations whose files are gone or unchanged are left alone. Nothing runs.
    @discardableResult
    public func repair(lockWait: TimeInterval = 30, notify: Notifier = { _ in }) throws -> [RepairedMigration] {
        let lock = try DatabaseLock.acquire(database, wait: lockWait, notify: notify)
        defer { lock.release() }
        let db = try openForChange(lockWait: lockWait)
        let repaired = try db.inWriteTransaction { () -> [RepairedMigration] in
            var repaired: [RepairedMigration] = []
            for entry in try MigrationHistory.read(db) where entry.kind == .migrate {
                guard let file = directory.files.first(where: { $0.version == entry.version && $0.name == entry.name }),
                      file.checksum != entry.checksum else { continue }
                try MigrationHistory.ensureTable(db)
                try MigrationHistory.repair(db, version: entry.version, name: entry.name, checksum: file.checksum,
                                            previous: entry.previousChecksums + [entry.checksum])
                repaired.append(RepairedMigration(version: entry.version, name: entry.name, file: file.path,
                                                  oldChecksum: entry.checksum, newChecksum: file.checksum))
            }
            return repaired
        }
        if !repaired.isEmpty {
            try? openStore().record(JournalEntry(action: .repair, database: database,
                                                 details: "accepted edits of " + repaired.map(\.displayName).joined(separator: ", ")))
        }
        return repaired
    }
}
