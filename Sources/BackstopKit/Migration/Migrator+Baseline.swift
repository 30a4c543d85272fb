import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

extension Migrator {
    /// Adopts a database that other tools already brought to `version`: records every migration file
    /// up to it (and `version` itself) as applied, without running anything. One transaction.
    @discardableResult
    public func baseline(version: Int64, lockWait: TimeInterval = 30) throws -> [AppliedMigration] {
        let lock = try DatabaseLock.acquire(database, wait: lockWait)
        defer { lock.release() }
        let db = try Database(path: database, mode: .readWrite, busyTimeout: lockWait)
        let history = try MigrationHistory.read(db)
        if let current = history.map(\.version).max() {
            throw BackstopError.refused("the database already has a migration history (at version \(current)); baseline is for adopting a database that has none",
                                        hint: "see 'backstop status'")
        }
        let now = Timestamp.rfc3339(Date())
        var entries = directory.files.filter { $0.version <= version }.map {
            AppliedMigration(version: $0.version, name: $0.name, checksum: $0.checksum, appliedAt: now, durationMs: 0,
                             rowsChanged: 0, snapshotID: nil, kind: "baseline")
        }
        if !entries.contains(where: { $0.version == version }) {
            entries.append(AppliedMigration(version: version, name: "baseline", checksum: "", appliedAt: now, durationMs: 0,
                                            rowsChanged: 0, snapshotID: nil, kind: "baseline"))
        }
        try db.inTransaction {
            try MigrationHistory.ensureTable(db)
            for entry in entries { try MigrationHistory.record(db, entry) }
        }
        return entries
    }
}
