import BackstopCore
import BackstopRemote
import BackstopStore
import Foundation

/// What a push did for one replica.
public struct PushReport: Sendable {
    public var replica: String
    public var location: String
    /// Uploaded by this run.
    public var pushed: [Manifest] = []
    /// Parts an earlier, interrupted push had already uploaded and this one reused.
    public var resumedParts = 0
    /// Already on the replica.
    public var present: [Manifest] = []
    /// Not pushed because the replica's retention policy would remove them at once.
    public var skipped: [Manifest] = []
    /// Of those pushed, the ones encrypted to the replica's own recipients on the way.
    public var encrypted: [Manifest] = []
    /// Of those already there, the ones not encrypted to the replica's own recipients (sent before they
    /// were set, or changed): they stay as they are until pruned.
    public var notToItsRecipients: [Manifest] = []
    public var bytes: Int64 = 0
}

/// Copies snapshots off-site: from a local store to a replica, only what is missing, oldest first (so an
/// interrupted push leaves the replica complete up to some point), each one checked on arrival.
public enum Replicator {
    /// Pushes `only` (default: every snapshot of `database`, or of every database when nil) that `replica`
    /// lacks. With a `policy`, snapshots it would remove from the replica right away are not sent (a
    /// replica pruned to its policy is not refilled by the next push). A replica with recipients of its own
    /// gets each snapshot encrypted to them (see ``EncryptedCopy``). Two runs never push the same
    /// snapshot at once: the second waits up to `lockWait`, then finds it there.
    public static func push(from store: SnapshotStore, to replica: RemoteStore, database: String?, only: [Manifest]? = nil,
                            policy: RetentionPolicy? = nil, lockWait: TimeInterval, now: Date = Date(),
                            progress: ((Manifest, Phase, Int64, Int64) -> Void)? = nil, notify: Notifier = { _ in }) throws -> PushReport {
        // Shared: a local prune waits until the snapshots being read are sent.
        let lock = try store.lock(.shared, wait: lockWait, notify: notify)
        defer { lock.release() }
        var report = PushReport(replica: replica.name, location: replica.location)
        let candidates = try only ?? store.snapshots(ofDatabase: database)
        let remote = Dictionary(try replica.scan().snapshots.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        var missing = candidates.filter { remote[$0.id] == nil }
        report.present = candidates.filter { remote[$0.id] != nil }
        if !replica.keys.recipients.isEmpty {
            let wanted = Set(replica.keys.recipients.map(\.description))
            report.notToItsRecipients = report.present.filter { Set(remote[$0.id]?.encryption?.recipients ?? []) != wanted }
        }
        if let policy, !missing.isEmpty {
            // Judge the replica as it would be with everything pushed.
            let aliases = try store.aliases()
            let items = (remote.values.sorted(by: Manifest.committedBefore) + missing).map { manifest -> RetentionItem in
                var item = RetentionItem(manifest)
                item.database = SnapshotStore.identity(of: manifest.database, aliases: aliases)
                return item
            }
            let kept = Set(Retention.apply(policy, to: items, now: now).keep.map(\.item.id))
            report.skipped = missing.filter { !kept.contains($0.id) }
            missing = missing.filter { kept.contains($0.id) }
        }
        try replica.pushAliases(try store.aliases())
        for manifest in missing {
            guard let pushLock = try store.lockForPush(manifest, wait: lockWait) else { continue }
            defer { pushLock.release() }
            let uploading = progress.map { p in { p(manifest, .uploading, $0, $1) } }
            let outcome: RemoteStore.PushOutcome
            if EncryptedCopy.isNeeded(manifest, recipients: replica.keys.recipients) {
                if try replica.holds(manifest) {
                    outcome = .present
                } else {
                    let copy = try EncryptedCopy(manifest, store: store, recipients: replica.keys.recipients,
                                                 progress: progress.map { p in { p(manifest, .encrypting, $0, $1) } })
                    outcome = try replica.push(copy.manifest, data: { copy.bytes }, resumable: false, progress: uploading)
                    if case .pushed = outcome { report.encrypted.append(manifest) }
                }
            } else {
                outcome = try replica.push(manifest, from: store, progress: uploading)
            }
            switch outcome {
            case .pushed(let bytes, let resumed):
                report.pushed.append(manifest)
                report.bytes += bytes
                report.resumedParts += resumed
            case .present:
                report.present.append(manifest)
            }
        }
        return report
    }
}
