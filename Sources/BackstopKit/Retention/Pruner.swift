import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What a prune did (or, with `dryRun`, would do).
public struct PruneReport: Sendable {
    public var result: RetentionResult
    /// The manifests of the snapshots removed (or to remove).
    public var removed: [Manifest]
    public var kept: [Manifest]
    public var freedBytes: Int64
    /// Incomplete snapshot files and temporary files removed (or, dry, to remove) because they were stale.
    public var staleFilesRemoved: [String]
    /// Files that are not complete snapshots and were left alone (too recent, or unreadable manifests).
    public var notSnapshots: [SnapshotStore.Problem]
    public var dryRun: Bool

    init(_ plan: Pruner.Plan, staleFilesRemoved: [String], notSnapshots: [SnapshotStore.Problem], dryRun: Bool) {
        result = plan.result
        removed = plan.removed
        kept = plan.kept
        freedBytes = plan.removed.reduce(0) { $0 + $1.compressedBytes }
        self.staleFilesRemoved = staleFilesRemoved
        self.notSnapshots = notSnapshots
        self.dryRun = dryRun
    }
}

/// Applies a retention policy to a store, under the store's exclusive lock.
public enum Pruner {
    /// Applies `policy` to every database's snapshots in the store, or only to those of `database`.
    public static func prune(store: SnapshotStore, policy: RetentionPolicy, dryRun: Bool, lockWait: TimeInterval,
                             database: String? = nil, now: Date = Date(), notify: Notifier = { _ in }) throws -> PruneReport {
        let lock = try store.lock(.exclusive, wait: lockWait, notify: notify)
        defer { lock.release() }
        let plan = try self.plan(store, policy: policy, database: database, now: now)
        if !dryRun {
            for manifest in plan.removed {
                try store.remove(manifest)
                Fault.point("prune.after-remove")
            }
            if !plan.removed.isEmpty {
                try? store.record(JournalEntry(action: .prune, database: nil, details: "removed " + plan.removed.map(\.id).joined(separator: ", ")
                                                + " with \(policy.file)"))
            }
        }
        let stale = store.removeStaleFiles(now: now, dryRun: dryRun)
        return PruneReport(plan, staleFilesRemoved: stale, notSnapshots: try store.scan().problems, dryRun: dryRun)
    }
}

extension Pruner {
    /// What `policy` keeps and removes in `repository` (of `database` only, when given). Each database is
    /// judged by its identity: snapshots taken before an adopted move count as its own.
    struct Plan {
        var result: RetentionResult
        var removed: [Manifest]
        var kept: [Manifest]
    }

    static func plan(_ repository: any SnapshotRepository, policy: RetentionPolicy, database: String?, now: Date) throws -> Plan {
        let aliases = try repository.aliases()
        let snapshots = try repository.scan().snapshots.filter { database == nil || SnapshotStore.identity(of: $0.database, aliases: aliases) == database }
        let items = snapshots.map { manifest in
            var item = RetentionItem(manifest)
            item.database = SnapshotStore.identity(of: manifest.database, aliases: aliases)
            return item
        }
        let result = Retention.apply(policy, to: items, now: now)
        let byID = Dictionary(uniqueKeysWithValues: snapshots.map { ($0.id, $0) })
        let removed = result.remove.compactMap { byID[$0.item.id] }
        let kept = result.keep.compactMap { byID[$0.item.id] }
        // The newest snapshot of each database is protected by the policy itself; check it again here,
        // because removing the last way back would be the worst possible bug.
        let newestPerDatabase = Set(Dictionary(grouping: snapshots, by: { SnapshotStore.identity(of: $0.database, aliases: aliases) }).values.compactMap {
            $0.filter { $0.createdDate <= now }.max { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }?.id
        })
        if let wrong = removed.first(where: { newestPerDatabase.contains($0.id) || $0.pinned }) {
            throw BackstopError.failed("internal error: retention chose the protected snapshot \(wrong.id); nothing was removed. Please report this.")
        }
        return Plan(result: result, removed: removed, kept: kept)
    }

    /// Applies `policy` to a replica under its lease: manifests first, then data; then unfinished uploads
    /// and data files without a manifest left by killed pushes (older than an hour).
    public static func prune(replica: RemoteStore, policy: RetentionPolicy, dryRun: Bool, lockWait: TimeInterval,
                             database: String? = nil, now: Date = Date(), notify: Notifier = { _ in }) throws -> PruneReport {
        let lease = try RemoteLease.acquire(replica, wait: lockWait)
        defer { lease.release() }
        if let owner = lease.tookOverFrom { notify(.tookOverLock(what: "the replica \(replica.location)", previousHolder: owner)) }
        let plan = try self.plan(replica, policy: policy, database: database, now: now)
        if !dryRun {
            for manifest in plan.removed {
                try lease.renewIfNeeded()
                try replica.remove(manifest)
                Fault.point("prune.after-remote-remove")
            }
        }
        let stale = try replica.removeStale(now: now, dryRun: dryRun)
        return PruneReport(plan, staleFilesRemoved: stale, notSnapshots: try replica.scan().problems, dryRun: dryRun)
    }
}

/// Pins protect the snapshots support staff are working from: no prune removes a pinned snapshot.
public enum Pinning {
    /// Sets or clears the pin (and its note) of a snapshot; returns the updated manifest.
    public static func setPinned(_ pinned: Bool, id: String, note: String?, store: SnapshotStore, lockWait: TimeInterval,
                                 notify: Notifier = { _ in }) throws -> Manifest {
        let lock = try store.lock(.shared, wait: lockWait, notify: notify)
        defer { lock.release() }
        var manifest = try store.snapshot(id: id)
        manifest.pinned = pinned
        manifest.pinNote = pinned ? (note ?? manifest.pinNote) : nil
        try store.update(manifest)
        try? store.record(JournalEntry(action: pinned ? .pin : .unpin, database: manifest.database, snapshot: manifest.id,
                                       details: manifest.pinNote))
        return manifest
    }
}
