import BackstopCodec
import BackstopCore
import BackstopStore
import Foundation

/// The snapshot taken before a change so that the change can be undone (`pre-restore`, `pre-recover`,
/// `pre-down`): taken now, or on a thread of its own while the change is prepared (a WAL database's
/// restore copies pages meanwhile; its commit waits for the snapshot). The caller holds the store's lock.
final class SafetySnapshot: Sendable {
    private let result = Guarded<Result<Manifest, Error>?>(nil)

    /// A safety snapshot already taken.
    init(taken manifest: Manifest) {
        result.withLock { $0 = .success(manifest) }
    }

    /// Starts taking one on a thread of its own.
    init(database: String, store: SnapshotStore, options: SnapshotOptions) {
        let result = self.result
        Thread {
            let outcome = Result { try SafetySnapshot.takeNow(of: database, in: store, options: options, progress: nil) }
            result.withLock { $0 = outcome }
        }.start()
    }

    /// The snapshot, once it is committed (or why it could not be taken).
    func wait() throws -> Manifest {
        try result.wait { $0 }.get()
    }

    /// Takes a safety snapshot now, while the caller holds the store's lock.
    static func takeNow(of database: String, in store: SnapshotStore, options: SnapshotOptions,
                        progress: PhaseProgress?) throws -> Manifest {
        try Snapshotter.takeLocked(database: database, store: store, options: options, progress: progress).manifest
    }

    /// Reports a safety snapshot's progress as one phase (`savingCurrentState`), in thousandths.
    static func progress(_ progress: @escaping PhaseProgress) -> PhaseProgress {
        { phase, done, total in
            let fraction = total > 0 ? Double(done) / Double(total) : 0
            progress(.savingCurrentState, Int64((phase == .checkingImage ? 1 : fraction) * 1000), 1000)
        }
    }
}
