import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

extension Migrator {
    /// Runs the `down` sections of every applied migration above `version`, newest first, in one
    /// transaction, after a `pre-down` snapshot. Refuses if any of them has no down SQL (no section, or one
    /// that holds only comments: that would undo nothing and still drop the history row).
    @discardableResult
    public func down(to version: Int64, options: Options = Options()) throws -> MigrationReport {
        let lock = try DatabaseLock.acquire(database, wait: options.lockWait, notify: options.notify)
        defer { lock.release() }
        let reader = try Database.openForReading(database, busyTimeout: options.lockWait)
        if !options.ignoreGuard { try Guard.enforce(directory.guardQueries, on: reader, action: "down migration") }
        let history = try MigrationHistory.read(reader)
        let toUndo = history.filter { $0.version > version }.sorted { ($0.version, $0.name) > ($1.version, $1.name) }
        var files: [MigrationFile] = []
        var lacking: [String] = []
        for entry in toUndo {
            if entry.kind == .baseline { lacking.append("\(entry.version) (adopted with baseline, never run)"); continue }
            guard let file = directory.files.first(where: { $0.version == entry.version && $0.name == entry.name }) else {
                lacking.append("\(entry.version)_\(entry.name) (its file is gone)")
                continue
            }
            switch file.down {
            case .some(let statements) where !statements.isEmpty: files.append(file)
            // A placeholder (no SQL up) is undone by doing nothing.
            case _ where file.up.isEmpty && file.require.isEmpty && file.verify.isEmpty: files.append(file)
            case .some: lacking.append("\(file.fileName) (its down section holds only comments: it would undo nothing)")
            case .none: lacking.append("\(file.fileName) (no down section)")
            }
        }
        if !lacking.isEmpty {
            let store = FileSystem.isDirectory(storePath) ? try openStore() : nil
            let back = try store.flatMap { try Rollback.nearestVersion(atOrBelow: version, database: database, store: $0) }
            let shown = version == 0 ? "0" : directory.files.first { $0.version == version }?.shownVersion ?? String(version)
            throw BackstopError.refused("cannot go down to \(shown): " + lacking.joined(separator: ", ") + "; nothing was changed",
                                        remedy: back.map { .rollback(version: $0, target: version) } ?? .listSnapshots)
        }
        var plan = MigrationPlan(database: database, fromVersion: history.map(\.version).max(), migrations: files)
        if directory.layout != .backstop {
            plan.versionNames = Dictionary(directory.files.map { ($0.version, $0.shownVersion) }, uniquingKeysWith: { a, _ in a })
        }
        guard !files.isEmpty else {
            return MigrationReport(plan: plan, steps: [], snapshot: nil, dryRun: false, tableCounts: [], durationMs: 0)
        }
        try options.confirm?(plan)
        let started = Date()
        var snapshot: Manifest?
        let store = try openStore()
        let db = try openForChange(lockWait: options.lockWait)
        let tool = toolHistory
        let stillApplied = directory.files.filter { file in history.contains { $0.version == file.version && $0.name == file.name } && !files.contains(file) }
        let steps = try Migrator.inRunTransaction(db, versionBefore: plan.fromVersion, rehearsal: false, events: options.events) {
            // Inside the write transaction: the snapshot is exactly the state the run starts from.
            if options.snapshot {
                options.events?(.snapshotting)
                var snapshotOptions = SnapshotOptions(kind: .preDown, label: "before going down to \(version)")
                snapshotOptions.level = options.level
                snapshotOptions.lockWait = options.lockWait
                snapshotOptions.notify = options.notify
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
                let step = MigrationStep(version: file.version, shownVersion: file.shownVersion, name: file.name,
                                         durationMs: Int64(Date().timeIntervalSince(begin) * 1000),
                                         rowsChanged: db.totalChanges - changesBefore)
                try MigrationHistory.remove(db, version: file.version, name: file.name)
                // The layout's tool sees it undone too.
                if try db.tableExists(tool.layout.historyTable ?? "") {
                    try tool.recordUndone(file, db: db, remaining: stillApplied + files.filter { $0.version < file.version })
                }
                steps.append(step)
                options.events?(.applied(step))
            }
            return steps
        }
        try? store.record(JournalEntry(action: .down, database: database, safetySnapshot: snapshot?.id,
                                       details: "version \(plan.fromVersion.map(String.init) ?? "none") -> \(version): undid \(files.map(\.displayName).joined(separator: ", "))"))
        return MigrationReport(plan: plan, steps: steps, snapshot: snapshot, dryRun: false, tableCounts: [],
                               durationMs: Int64(Date().timeIntervalSince(started) * 1000))
    }
}
