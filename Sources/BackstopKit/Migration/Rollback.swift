import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// The snapshot that undoes migration runs: restore is the primary rollback path.
public struct RollbackChoice: Sendable {
    public var manifest: Manifest
    /// Without a version: the versions the undone run applied.
    public var undoneRun: [Int64]
    /// With a version: the version asked for.
    public var toVersion: Int64?
    /// When the last run was an application's migrator under `run`: that run.
    public var undoneCommand: WrappedRunRecord?

    public init(manifest: Manifest, undoneRun: [Int64], toVersion: Int64?, undoneCommand: WrappedRunRecord? = nil) {
        self.manifest = manifest
        self.undoneRun = undoneRun
        self.toVersion = toVersion
        self.undoneCommand = undoneCommand
    }
}

/// Chooses the snapshot that undoes migration runs, by the history's own order (never the clock's).
public enum Rollback {
    /// Without `version`: the pre-migration snapshot of the last run in the live database's history (the run
    /// recorded last, whatever its clock said). With it: the most recent pre-migration snapshot taken while
    /// the database was at `version`.
    public static func select(database: String, store: SnapshotStore?, toVersion version: Int64?) throws -> RollbackChoice {
        let database = FileSystem.absolute(database)
        let candidates = try store?.snapshots(ofDatabase: database) ?? []
        if let version {
            guard let pick = candidates.last(where: { $0.kind == .preMigration && ($0.schemaVersion ?? 0) == version }) else {
                let passing = candidates.filter { $0.kind == .preMigration && ($0.migrations ?? []).contains { $0 > version } && ($0.schemaVersion ?? 0) < version }
                var message = "no pre-migration snapshot of \(database) was taken at version \(version)"
                if let run = passing.last {
                    message += ": the run that went past \(version) started at \(run.schemaVersion.map(String.init) ?? "no version") and applied \((run.migrations ?? []).map(String.init).joined(separator: ", ")) together"
                }
                let nearest = try store.flatMap { try nearestVersion(atOrBelow: version, database: database, store: $0) }
                throw BackstopError.snapshotNotFound(message, remedy: nearest.map { .rollback(version: $0, target: version) } ?? .listSnapshots)
            }
            return RollbackChoice(manifest: pick, undoneRun: [], toVersion: version)
        }
        let live = try Database.openForReading(database)
        let history = try MigrationHistory.readInOrder(live).filter { $0.kind == .migrate }
        // A run of the application's own migrator (`run`) may be the last one: run numbers are shared.
        if let wrapped = try RunHistory.read(live).last, wrapped.run > (history.last?.run ?? 0) {
            guard let id = wrapped.snapshotID, let manifest = candidates.first(where: { $0.id == id }) else {
                throw BackstopError.snapshotNotFound("the last run's snapshot \(wrapped.snapshotID ?? "(none)") is no longer in \(store?.path ?? "the store")")
            }
            return RollbackChoice(manifest: manifest, undoneRun: [], toVersion: nil, undoneCommand: wrapped)
        }
        guard let last = history.last else {
            throw BackstopError.snapshotNotFound("the database has no migration run to roll back")
        }
        let run = last.run != nil ? history.filter { $0.run == last.run } : history.filter { $0.snapshotID == last.snapshotID }
        guard let id = last.snapshotID else {
            throw BackstopError.snapshotNotFound("the last run (\(last.appliedAt)) was applied without a snapshot: there is no snapshot to roll back to")
        }
        guard let manifest = candidates.first(where: { $0.id == id }) else {
            if let elsewhere = try store?.scan().snapshots.first(where: { $0.id == id }) {
                throw BackstopError.snapshotNotFound(
                    "the last run's snapshot \(id) is in \(store!.path), but it was taken of \(elsewhere.database), not \(database)",
                    remedy: .adopt(oldPath: elsewhere.database, newPath: database))
            }
            throw BackstopError.snapshotNotFound("the last run's snapshot \(id) is no longer in \(store?.path ?? "the store")")
        }
        return RollbackChoice(manifest: manifest, undoneRun: run.map(\.version), toVersion: nil)
    }

    /// The highest version at or below `version` that a pre-migration snapshot of `database` was taken at.
    public static func nearestVersion(atOrBelow version: Int64, database: String, store: SnapshotStore) throws -> Int64? {
        try store.snapshots(ofDatabase: database).filter { $0.kind == .preMigration }
            .compactMap(\.schemaVersion).filter { $0 <= version }.max()
    }
}
