import BackstopCore
import BackstopStore
import Foundation

extension FileLock {
    /// Reports through `notify` that this lock was taken over from a run that died, if it was.
    func reportTakeOver(to notify: Notifier) -> FileLock {
        if let previous = tookOverFrom { notify(.tookOverLock(what: what, previousHolder: previous)) }
        return self
    }
}

extension SnapshotStore {
    /// Takes the store's lock, telling `notify` when it was taken over from a run that died.
    func lock(_ mode: FileLock.Mode, wait: TimeInterval, notify: Notifier) throws -> FileLock {
        try lock(mode, wait: wait).reportTakeOver(to: notify)
    }
}

/// The lock that lets one Backstop run at a time change a given database (restore, migrate, recover).
/// It lives beside the database as `<db>-backstop.lock`; readers of the database never take it.
public enum DatabaseLock {
    public static func path(for database: String) -> String { database + "-backstop.lock" }

    public static func acquire(_ database: String, wait: TimeInterval, notify: Notifier = { _ in }) throws -> FileLock {
        try FileLock(path: path(for: database), mode: .exclusive, wait: wait, what: "the database \(database)").reportTakeOver(to: notify)
    }
}
