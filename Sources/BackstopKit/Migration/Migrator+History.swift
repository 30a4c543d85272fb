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

    /// Runs the `down` sections of every applied migration above `version`, newest first, in one
    /// transaction, after a `pre-down` snapshot. Refuses if any of them lacks a `down` section.
    @discardableResult
    public func down(to version: Int64, options: Options = Options()) throws -> MigrationReport {
        let started = Date()
        let lock = try DatabaseLock.acquire(database, wait: options.lockWait)
        defer { lock.release() }
        let reader = try Database(path: database, mode: .readOnly, busyTimeout: options.lockWait)
        if !options.ignoreGuard { try Guard.enforce(directory.guardQueries, on: reader, action: "down migration") }
        let history = try MigrationHistory.read(reader)
        let toUndo = history.filter { $0.version > version }.sorted { ($0.version, $0.name) > ($1.version, $1.name) }
        var files: [MigrationFile] = []
        var lacking: [String] = []
        for entry in toUndo {
            if entry.kind == "baseline" { lacking.append("\(entry.version) (adopted with baseline, never run)"); continue }
            guard let file = directory.files.first(where: { $0.version == entry.version && $0.name == entry.name }) else {
                lacking.append("\(entry.version)_\(entry.name) (its file is gone)")
                continue
            }
            if file.down == nil { lacking.append("\(file.fileName) (no -- backstop:down section)") } else { files.append(file) }
        }
        if !lacking.isEmpty {
            throw BackstopError.refused("cannot go down to \(version): " + lacking.joined(separator: ", ") + "; nothing was changed",
                                        hint: "restore is the primary way back: 'backstop rollback --to \(version)'")
        }
        let plan = MigrationPlan(database: database, fromVersion: history.map(\.version).max(), migrations: files)
        guard !files.isEmpty else {
            return MigrationReport(plan: plan, steps: [], snapshot: nil, dryRun: false, tableCounts: [], durationMs: 0)
        }
        try options.confirm?(plan)
        var snapshot: Manifest?
        let store = options.snapshot ? try openStore() : nil
        let db = try Database(path: database, mode: .readWrite, busyTimeout: options.lockWait)
        let steps = try Migrator.inRunTransaction(db, versionBefore: plan.fromVersion, rehearsal: false, events: options.events) {
            // Inside the write transaction: the snapshot is exactly the state the run starts from.
            if let store {
                options.events?(.snapshotting)
                var snapshotOptions = SnapshotOptions(kind: "pre-down", label: "before going down to \(version)")
                snapshotOptions.level = options.level
                snapshotOptions.lockWait = options.lockWait
                snapshot = try Snapshotter.take(database: database, store: store, options: snapshotOptions,
                                                progress: options.snapshotProgress).manifest
            }
            var steps: [MigrationStep] = []
            for (index, file) in files.enumerated() {
                options.events?(.applying(file, index: index, count: files.count))
                let begin = Date()
                let changesBefore = db.totalChanges
                try Migrator.runStatements(file.down ?? [], on: db) { statement, message in
                    MigrationFailure(migration: file.displayName, file: file.path, phase: .down, statement: statement,
                                     message: message, rows: nil, versionBefore: plan.fromVersion)
                }
                let step = MigrationStep(version: file.version, name: file.name,
                                         durationMs: Int64(Date().timeIntervalSince(begin) * 1000),
                                         rowsChanged: db.totalChanges - changesBefore)
                try MigrationHistory.remove(db, version: file.version, name: file.name)
                steps.append(step)
                options.events?(.applied(step))
            }
            return steps
        }
        return MigrationReport(plan: plan, steps: steps, snapshot: snapshot, dryRun: false, tableCounts: [],
                               durationMs: Int64(Date().timeIntervalSince(started) * 1000))
    }
}

/// Chooses the snapshot that undoes migration runs: restore is the primary rollback path.
public enum Rollback {
    /// Without `version`: the pre-migration snapshot of the last run recorded in the live database's
    /// history. With it: the newest pre-migration snapshot taken while the database was at `version`.
    public static func select(database: String, store: SnapshotStore?, toVersion version: Int64?) throws -> (manifest: Manifest, explanation: String) {
        let database = FileSystem.absolute(database)
        let candidates = try store?.snapshots(ofDatabase: database) ?? []
        if let version {
            let matching = candidates.filter { $0.kind == "pre-migration" && ($0.schemaVersion ?? 0) == version }
            guard let pick = matching.last else {
                throw BackstopError.snapshotNotFound("no pre-migration snapshot of \(database) was taken at version \(version)")
            }
            return (pick, "the newest pre-migration snapshot taken at version \(version): \(pick.id) (\(pick.createdAt))")
        }
        let history = try MigrationHistory.read(try Database(path: database, mode: .readOnly))
        guard let last = history.filter({ $0.kind == "migrate" }).max(by: { ($0.appliedAt, $0.version) < ($1.appliedAt, $1.version) }) else {
            throw BackstopError.snapshotNotFound("the database has no migration run to roll back")
        }
        guard let id = last.snapshotID else {
            throw BackstopError.snapshotNotFound("the last run (\(last.appliedAt)) was applied with --no-snapshot: there is no snapshot to roll back to")
        }
        guard let manifest = candidates.first(where: { $0.id == id }) else {
            throw BackstopError.snapshotNotFound("the last run's snapshot \(id) is no longer in \(store?.path ?? "the store")")
        }
        let run = history.filter { $0.snapshotID == id }.map(\.version)
        return (manifest, "the pre-migration snapshot \(id) (\(manifest.createdAt)), taken before the run that applied \(run.map(String.init).joined(separator: ", "))")
    }

    /// Version -> the pre-migration snapshot taken before it was applied, from the live history.
    public static func snapshotsByVersion(database: String) throws -> [Int64: String] {
        let history = try MigrationHistory.read(try Database(path: database, mode: .readOnly))
        var map: [Int64: String] = [:]
        for entry in history { if let id = entry.snapshotID { map[entry.version] = id } }
        return map
    }
}

/// A postcondition of an applied migration that the live database no longer satisfies.
public struct PostconditionFailure: Sendable {
    /// `0029_merge_profiles_by_family_slug`, or nil for `PRAGMA foreign_key_check`.
    public var migration: String?
    public var file: String?
    public var statement: SQLStatement
    public var rows: CheckRows
}

extension Migrator {
    /// Runs the `verify` sections of the applied migrations (all, or those from `fromVersion` on)
    /// against the live database, read-only, then `PRAGMA foreign_key_check`. Returns what fails.
    public func checkPostconditions(fromVersion: Int64? = nil) throws -> [PostconditionFailure] {
        let db = try Database(path: database, mode: .readOnly)
        try db.execute("PRAGMA query_only = ON")
        let applied = Set(try MigrationHistory.read(db).map { "\($0.version)\u{1}\($0.name)" })
        var failures: [PostconditionFailure] = []
        for file in directory.files where applied.contains("\(file.version)\u{1}\(file.name)") && file.version >= (fromVersion ?? Int64.min) {
            for check in file.verify {
                let rows = try Checks.run(check, on: db)
                if !rows.isEmpty { failures.append(PostconditionFailure(migration: file.displayName, file: file.path, statement: check, rows: rows)) }
            }
        }
        let foreignKeys = SQLStatement(sql: "PRAGMA foreign_key_check", line: 0)
        let violations = try Checks.run(foreignKeys, on: db)
        if !violations.isEmpty { failures.append(PostconditionFailure(migration: nil, file: nil, statement: foreignKeys, rows: violations)) }
        return failures
    }
}
