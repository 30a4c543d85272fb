import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// Which snapshot a restore (or diff, or recover) should use.
public enum SnapshotSelection: Sendable, Equatable {
    /// A snapshot id, or a unique prefix of one (at least 8 characters).
    case id(String)
    /// The newest snapshot of the database.
    case latest
    /// The newest snapshot of the database taken at or before this time.
    case at(Date)
    /// The snapshot taken just before this migration version was applied.
    case beforeMigration(Int64)

    /// Picks the snapshot; `explanation` says in words why this one.
    public func resolve(in store: SnapshotStore, database: String,
                        history: [Int64: String] = [:]) throws -> (manifest: Manifest, explanation: String) {
        let candidates = try store.snapshots(ofDatabase: database)
        switch self {
        case .id(let id):
            let manifest = try store.snapshot(id: id)
            return (manifest, "snapshot \(manifest.id)")
        case .latest:
            guard let newest = candidates.last else {
                throw BackstopError.snapshotNotFound("there are no snapshots of \(database) in \(store.path)")
            }
            return (newest, "the newest snapshot, \(newest.id) (\(newest.createdAt))")
        case .at(let date):
            guard let pick = candidates.last(where: { $0.createdDate <= date }) else {
                let oldest = candidates.first.map { " (the oldest is \($0.id), \($0.createdAt))" } ?? ""
                throw BackstopError.snapshotNotFound(
                    "no snapshot of \(database) was taken at or before \(Timestamp.rfc3339(date))\(oldest)")
            }
            return (pick, "the newest snapshot at or before \(Timestamp.rfc3339(date)): \(pick.id) (\(pick.createdAt))")
        case .beforeMigration(let version):
            if let id = history[version], let recorded = candidates.first(where: { $0.id == id }) {
                return (recorded, "the pre-migration snapshot \(recorded.id), taken just before migration \(version) was applied")
            }
            guard let pick = candidates.last(where: { $0.kind == "pre-migration" && ($0.migrations ?? []).contains(version) }) else {
                throw BackstopError.snapshotNotFound(
                    "no pre-migration snapshot of \(database) was taken before migration \(version) was applied")
            }
            return (pick, "the pre-migration snapshot \(pick.id), taken just before migration \(version) was applied")
        }
    }
}
