import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// Which snapshot a restore (or diff, or recover, or query) should use.
public enum SnapshotSelection: Sendable, Equatable {
    /// A snapshot id, or a unique prefix of one (at least 8 characters).
    case id(String)
    /// The most recently taken snapshot of the database (by the store's commit order, not by clock), not
    /// counting safety snapshots (pre-restore, pre-recover, pre-down) unless kinds are asked for.
    case latest
    /// The snapshot of the database that was current at this time: the most recently taken one whose
    /// time is at or before it.
    case at(Date)
    /// The snapshot taken just before this migration version was applied.
    case beforeMigration(Int64)
}

/// The snapshot a selection picked, and why.
public struct SelectedSnapshot: Sendable {
    public var manifest: Manifest
    public var selection: SnapshotSelection
    /// For `latest`: newer safety snapshots that were passed over.
    public var skipped: [Manifest]
    /// For `beforeMigration`: true when the live history names this snapshot for that version.
    public var recordedInHistory: Bool
}

extension SnapshotSelection {
    /// Picks the snapshot among those of `database` (with the moves the store recorded). `kinds`, when
    /// given, limits the candidates to those kinds (and lets `latest` pick a safety snapshot).
    public func resolve(in store: any SnapshotRepository, database: String, kinds: Set<SnapshotKind>? = nil) throws -> SelectedSnapshot {
        let candidates = try store.snapshots(ofDatabase: database).filter { kinds?.contains($0.kind) ?? true }
        let kindWords = kinds.map { " of kind \($0.sorted().map(\.rawValue).joined(separator: ", "))" }
        switch self {
        case .id(let id):
            let manifest = try store.snapshot(id: id)
            if let kinds, !kinds.contains(manifest.kind) {
                throw BackstopError.snapshotNotFound("snapshot \(manifest.id) is a \(manifest.kind) snapshot, not\(kindWords ?? "")")
            }
            return SelectedSnapshot(manifest: manifest, selection: self, skipped: [], recordedInHistory: false)
        case .latest:
            let eligible = kinds == nil ? candidates.filter { !$0.kind.isSafetySnapshot } : candidates
            guard let newest = eligible.last else {
                if candidates.isEmpty { throw try store.noSnapshots(of: database, selection: kindWords) }
                throw BackstopError.snapshotNotFound(
                    "every snapshot of \(database) in \(store.location) is a safety snapshot (pre-restore, pre-recover or pre-down)",
                    remedy: .listSnapshots)
            }
            let skipped = candidates.filter { Manifest.committedBefore(newest, $0) && $0.kind.isSafetySnapshot }
            return SelectedSnapshot(manifest: newest, selection: self, skipped: skipped, recordedInHistory: false)
        case .at(let date):
            guard let pick = candidates.last(where: { $0.createdDate <= date }) else {
                if candidates.isEmpty { throw try store.noSnapshots(of: database, selection: kindWords) }
                let oldest = candidates.min { $0.createdDate < $1.createdDate }!
                throw BackstopError.snapshotNotFound(
                    "no snapshot of \(database)\(kindWords ?? "") was taken at or before \(Timestamp.rfc3339(date)) (the oldest is \(oldest.id), \(oldest.createdAt))")
            }
            return SelectedSnapshot(manifest: pick, selection: self, skipped: [], recordedInHistory: false)
        case .beforeMigration(let version):
            if FileSystem.exists(database),
               let id = try MigrationHistory.read(try Database.openForReading(database)).first(where: { $0.version == version })?.snapshotID,
               let recorded = candidates.first(where: { $0.id == id }) {
                return SelectedSnapshot(manifest: recorded, selection: self, skipped: [], recordedInHistory: true)
            }
            guard let pick = candidates.last(where: { $0.kind == .preMigration && ($0.migrations ?? []).contains(version) }) else {
                throw BackstopError.snapshotNotFound(
                    "no pre-migration snapshot of \(database) in \(store.location) was taken before migration \(version) was applied")
            }
            return SelectedSnapshot(manifest: pick, selection: self, skipped: [], recordedInHistory: false)
        }
    }
}

extension Manifest {
    /// True when the snapshot is dated after `now` (with a minute of slack): the clock that took it was wrong.
    public func isFutureDated(now: Date = Date()) -> Bool { createdDate > now.addingTimeInterval(60) }
}
