import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

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
