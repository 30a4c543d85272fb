import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

extension Migrator {
    /// Adopts a database that other tools already brought to `version`: records every migration file
    /// up to it (and `version` itself) as applied, without running anything. One transaction. Refuses
    /// when a file at or below `version` cannot be used: once fixed, it would run on a database that
    /// already has it.
    ///
    /// Without `version`, for another tool's layout: adopts what that tool's own history records as applied.
    /// With it, the tool's history gets the rows it lacks, so that both agree.
    @discardableResult
    public func baseline(version requested: Int64?, lockWait: TimeInterval = 30, notify: Notifier = { _ in }) throws -> [AppliedMigration] {
        let lock = try DatabaseLock.acquire(database, wait: lockWait, notify: notify)
        defer { lock.release() }
        let tool = toolHistory
        let toolApplied = try tool.applied(try Database.openForReading(database), files: directory.files)
        let version: Int64
        if let requested {
            version = requested
        } else {
            guard directory.layout != .backstop else {
                throw BackstopError.invalidInput("give the version the database is at (Backstop's own layout has no other tool's history to read it from)")
            }
            guard let applied = toolApplied, let highest = applied.max() else {
                throw BackstopError.refused("\(directory.layout.rawValue)'s history table \(tool.table) records nothing applied in \(database); nothing to adopt",
                                            remedy: .migrationStatus)
            }
            let gaps = directory.files.filter { $0.version < highest && !applied.contains($0.version) }
            if !gaps.isEmpty {
                throw BackstopError.refused("\(directory.layout.rawValue)'s history records \(highest) applied but not \(gaps.map(\.fileName).joined(separator: ", ")) below it; adopt a version explicitly, or apply those first; nothing was changed",
                                            remedy: .migrationStatus)
            }
            version = highest
        }
        let unusable = directory.problems.filter { $0.kind == .invalid && ($0.version.map { $0 <= version } ?? true) }
        if !unusable.isEmpty {
            throw BackstopError.refused(
                "cannot adopt version \(version): these files at or below it cannot be used, and once fixed they would run on a database that already has them; nothing was changed:"
                    + unusable.map { "\n  - \($0.message)" }.joined(),
                remedy: .migrationStatus)
        }
        let db = try openForChange(lockWait: lockWait)
        let history = try MigrationHistory.read(db)
        if let current = history.map(\.version).max() {
            throw BackstopError.refused("the database already has a migration history (at version \(current)); baseline is for adopting a database that has none",
                                        remedy: .migrationStatus)
        }
        let now = Timestamp.rfc3339(Date())
        var entries = directory.files.filter { $0.version <= version }.map {
            AppliedMigration(version: $0.version, name: $0.name, checksum: $0.checksum, appliedAt: now, durationMs: 0,
                             rowsChanged: 0, snapshotID: nil, kind: .baseline)
        }
        if !entries.contains(where: { $0.version == version }) {
            entries.append(AppliedMigration(version: version, name: "baseline", checksum: "", appliedAt: now, durationMs: 0,
                                            rowsChanged: 0, snapshotID: nil, kind: .baseline))
        }
        let missingFromTool = directory.layout == .backstop ? [] : directory.files.filter { $0.version <= version && !(toolApplied ?? []).contains($0.version) }
        try tool.checkShape(db)
        try db.inWriteTransaction {
            try MigrationHistory.ensureTable(db)
            let run = try MigrationHistory.nextRun(db)
            for index in entries.indices { entries[index].run = run }
            for entry in entries { try MigrationHistory.record(db, entry) }
            if !missingFromTool.isEmpty {
                try tool.prepare(db)
                for file in missingFromTool { try tool.recordApplied(file, db: db, elapsed: 0) }
            }
        }
        let shown = directory.files.first { $0.version == version }?.shownVersion ?? String(version)
        try? openStore().record(JournalEntry(action: .baseline, database: database, details: "adopted at version \(shown)"))
        return entries
    }
}
