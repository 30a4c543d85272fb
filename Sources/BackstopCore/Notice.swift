/// Things worth telling the user that are not errors. The domain reports them through the `notify`
/// closure of each operation's options; the command line words them (or keeps quiet with --quiet).
public enum Notice: Sendable, Equatable {
    /// A lock left by a process that is no longer running was taken over.
    case tookOverLock(what: String, previousHolder: String)
    /// The newest snapshot of a database is damaged, so `--if-changed` compared with nothing and a new one
    /// was taken.
    case damagedNewestSnapshot(id: String, database: String)
    /// Others can read the store (an existing folder Backstop did not create, and so did not change).
    case storeReadableByOthers(path: String, mode: Int)
    /// Temporary files an interrupted run left behind were removed.
    case removedStaleFiles([String], directory: String)
    /// A check could not cover everything (collations or functions the application defines).
    case notChecked(what: String, reasons: [String])
    /// A snapshot was written unencrypted (no recipients are set) although the database's previous one
    /// was encrypted: the configuration that sets them was probably not read.
    case notEncrypted(id: String, previous: String)
}

/// Receives notices; called on the thread that does the work.
public typealias Notifier = @Sendable (Notice) -> Void
