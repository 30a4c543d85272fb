import Foundation

/// What kind of failure an error is: the command line maps each to one documented exit status.
public enum FailureKind: Sendable {
    case usage, notFound, verification, locked, refused, checkFailed, migrationFailed, failure
    /// An encrypted snapshot that no key given decrypts (a missing or wrong key or passphrase).
    case key
}

/// What can be done next about an error. The domain names the remedy; the command line puts it in words,
/// with the flag or command to use, and a Swift app using the library decides for itself (or shows
/// ``plainWords``).
public enum Remedy: Sendable, Equatable {
    /// Wait for the other run to finish, or wait longer for the lock.
    case waitForLock
    /// Look at the snapshots of this database.
    case listSnapshots
    /// Do not restore from this snapshot; pick and check another.
    case chooseAnotherSnapshot
    /// Write the snapshot to a new file instead.
    case restoreToNewFile(snapshot: String)
    /// Choose another path, or allow replacing the file.
    case chooseAnotherPathOrReplace
    /// Remove these files if nothing uses them, or restore to another path.
    case removeSideFiles([String])
    /// Run as the file's owner, or restore to a new path.
    case runAsOwner
    /// Stop what uses the file, or restore into it as a live database.
    case stopUserOrRestoreLive(database: String, snapshot: String)
    /// Stop what uses the file, or restore to another path.
    case stopUserOrChooseAnotherPath
    /// Restore anyway a snapshot of a database that failed SQLite's check.
    case allowFailedCheck
    /// Copy rows from a snapshot of another database on purpose.
    case allowOtherDatabase
    /// Run the command again (what it would do has changed).
    case runAgain
    /// Bring back the rows that point at the recovered ones too, or recover the missing rows.
    case recoverChildren
    /// Compare the snapshot with the live database.
    case diff(snapshot: String)
    /// Supply a value for a column the snapshot lacks.
    case setColumn(table: String, column: String)
    /// Rename or remove the clashing live row, or give the recovered row another value.
    case renameOrSet(table: String, column: String)
    /// Fix the migration; rehearse it on a copy first.
    case fixMigration(rehearsal: Bool)
    /// Going back is done by restoring a snapshot (or by down migrations) to this version.
    case goBack(version: Int64)
    /// Restore is the primary way back: to `version`, the newest with a snapshot at or below `target`
    /// (then forward to `target` with a migration, when they differ).
    case rollback(version: Int64, target: Int64)
    /// Look at the migration status.
    case migrationStatus
    /// Wait until the guard's rows are gone, or run despite the guard.
    case waitForGuard
    /// Say which migrations folder.
    case chooseMigrationsFolder
    /// Say which database (the configuration names these).
    case chooseDatabase(configured: [String])
    /// Free some space on the disk holding this path (a snapshot store's: pruning frees some).
    case freeSpace(path: String, store: Bool)
    /// Remove the file only Backstop should create, and find out who planted it.
    case removeUnsafeFile(String)
    /// Rebuild the snapshot into a new file (its page size differs from the live database's).
    case restoreToNewFileAnyPageSize
    /// Adopt the snapshots a database had under another path.
    case adopt(oldPath: String, newPath: String)
    /// Confirm interactively, or confirm in advance.
    case confirm
    /// Give the identity (secret key) or passphrase that decrypts snapshots encrypted to these recipients.
    case giveIdentity(recipients: [String])
    /// Check the S3 credentials (they came from `source`).
    case checkCredentials(source: String)
    /// Create the bucket, or correct its name or endpoint.
    case createBucket(String)
    /// Set this machine's clock right (NTP).
    case fixClock
    /// Grant these credentials the permission the operation needs.
    case checkPermissions(source: String)
    /// Check that the server is reachable, then try again (what is missing is pushed next time).
    case checkConnection(String)
    /// Sign requests for the bucket's own region (nil: the server did not say which).
    case setRegion(String?)
    /// Send requests to the endpoint the server named (nil: it named none that can be repeated).
    case setEndpoint(String?)

    /// The remedy in words that name no flag or command, for library callers.
    public var plainWords: String {
        switch self {
        case .waitForLock: return "wait for the other run to finish, or wait longer for the lock"
        case .listSnapshots: return "look at the snapshots of this database"
        case .chooseAnotherSnapshot: return "do not restore from this snapshot; choose another and verify it deeply"
        case .restoreToNewFile(let id): return "write snapshot \(id) to a new file instead"
        case .chooseAnotherPathOrReplace: return "choose another path, or allow replacing the file"
        case .removeSideFiles(let paths): return "if no process uses the database, remove \(paths.joined(separator: " ")); or restore to another path"
        case .runAsOwner: return "restore as the file's owner, or to a new path"
        case .stopUserOrRestoreLive(let database, let id): return "stop what uses \(database) first, or restore snapshot \(id) into it as a live database"
        case .stopUserOrChooseAnotherPath: return "stop what uses the file first, or restore to another path"
        case .allowFailedCheck: return "choose an earlier snapshot, or restore this one explicitly if this damaged copy is the best there is"
        case .allowOtherDatabase: return "allow a snapshot of another database explicitly if its rows really belong here"
        case .runAgain: return "run again to see what it would do now"
        case .recoverChildren: return "bring back the rows that point at the recovered ones too, or recover the missing rows"
        case .diff(let id): return "compare snapshot \(id) with the live database"
        case .setColumn(let table, let column): return "supply a value for \(table).\(column)"
        case .renameOrSet(let table, let column): return "rename or remove the live row first, or give the recovered row another \(table).\(column)"
        case .fixMigration(let rehearsal): return rehearsal ? "fix the migration and rehearse again" : "fix the migration, rehearse it on a copy, then run it again"
        case .goBack(let version): return "go back to version \(version) by restoring its snapshot, or with down migrations"
        case .rollback(let version, let target):
            return version == target ? "restore the snapshot taken at version \(version), the primary way back"
                : "restore the snapshot taken at version \(version) (none was taken at \(target)), then migrate forward to \(target)"
        case .migrationStatus: return "look at the migration status"
        case .waitForGuard: return "wait until the guard's rows are gone (for example, stop the running sessions), or run despite the guard"
        case .chooseMigrationsFolder: return "say which migrations folder to use"
        case .chooseDatabase: return "say which database to use"
        case .freeSpace(let path, let store):
            return "free some space on the disk holding \(path)\(store ? " (pruning old snapshots frees some)" : "") and try again"
        case .removeUnsafeFile(let path): return "remove \(path) (only Backstop should create it), find out who planted it, and try again"
        case .restoreToNewFileAnyPageSize: return "restore it to a new file"
        case .adopt(let old, let new): return "adopt the snapshots of \(old) as those of \(new)"
        case .confirm: return "confirm the change"
        case .giveIdentity(let recipients):
            return recipients == ["passphrase"] ? "give the passphrase it was encrypted with"
                : "give the secret key of one of \(recipients.joined(separator: ", "))"
        case .checkCredentials(let source): return "check the access key and secret (they came from \(source))"
        case .createBucket(let bucket): return "create the bucket \(bucket), or correct the bucket name or endpoint"
        case .fixClock: return "set this machine's clock right (NTP), then try again"
        case .checkPermissions(let source): return "grant the credentials from \(source) the permission this needs"
        case .checkConnection(let endpoint): return "check that \(endpoint) is reachable, then try again"
        case .setRegion(let region): return "set the replica's region to the bucket's" + (region.map { " (\($0))" } ?? "")
        case .setEndpoint(let endpoint): return "set the replica's endpoint to where the bucket is" + (endpoint.map { " (\($0))" } ?? "")
        }
    }
}

/// The errors Backstop reports. Each says what went wrong and what was (not) changed, in words that name
/// no flag or command; `remedy` says what to do next.
public enum BackstopError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// No snapshot matches the selection.
    case snapshotNotFound(String, remedy: Remedy? = .listSnapshots)
    /// A snapshot failed verification (checksum, size, decompression or integrity check).
    case verificationFailed(id: String, reason: String)
    /// Another run holds the lock on a store or database.
    case locked(what: String, holder: String, waited: TimeInterval)
    /// Refused for safety: nothing was changed.
    case refused(String, remedy: Remedy?)
    /// Invalid input (a time, a configuration file, a policy ...).
    case invalidInput(String, remedy: Remedy? = nil)
    /// A file operation failed.
    case io(operation: String, path: String, errno: Int32)
    /// The disk holding `path` (a folder) filled up while `doing` ("writing the snapshot"); `outcome` says
    /// what was left as it was ("no snapshot was stored").
    case diskFull(path: String, doing: String, outcome: String, store: Bool)
    /// A failed check (guard, precondition, postcondition, drift ...). Nothing was changed.
    case checkFailed(String, remedy: Remedy?)
    /// A snapshot that was listed is gone (pruned meanwhile): not found, never "corrupt".
    case snapshotGone(id: String, file: String)
    /// An id prefix that matches several snapshots (all listed).
    case ambiguousID(String, matches: [String])
    /// A file where Backstop expected its own (a lock, a snapshot) is a symbolic link, a FIFO, a device
    /// or a hard link: it was not used. Nothing was changed.
    case unsafeFile(path: String, reason: String)
    /// A file that must be new already exists. Nothing was changed.
    case alreadyExists(path: String)
    /// No database was named (the configuration names these, if any).
    case noDatabase(configured: [String])
    /// A database name the configuration does not define.
    case unknownDatabaseName(String, configuration: String?, known: [String])
    /// The migrations folder does not exist.
    case noMigrationsFolder(String)
    /// An encrypted snapshot that none of the identities tried (`tried` names where they came from)
    /// decrypts; `reason` says why. Nothing was read or changed.
    case cannotDecrypt(id: String, recipients: [String], tried: [String], reason: String)
    /// An object store (S3) refused or failed a request, after retries; `status` is the HTTP status (nil
    /// when no answer came), `code` the S3 error code. Says what was (not) changed.
    case remote(String, status: Int?, code: String?, remedy: Remedy?)
    /// Anything else, with context.
    case failed(String)

    public var kind: FailureKind {
        switch self {
        case .failed, .io, .diskFull: return .failure
        case .remote(_, _, let code, _): return code == "NoSuchBucket" ? .notFound : .failure
        case .snapshotNotFound, .snapshotGone: return .notFound
        case .verificationFailed: return .verification
        case .locked: return .locked
        case .refused, .unsafeFile, .alreadyExists: return .refused
        case .invalidInput, .ambiguousID, .noDatabase, .unknownDatabaseName, .noMigrationsFolder: return .usage
        case .checkFailed: return .checkFailed
        case .cannotDecrypt: return .key
        }
    }

    public var description: String {
        switch self {
        case .snapshotNotFound(let what, _):
            return what
        case .verificationFailed(let id, let reason):
            return "snapshot \(id) failed verification: \(reason)"
        case .locked(let what, let holder, let waited):
            let waitedText = waited >= 0.5 ? "waited \(Int(waited.rounded()))s, " : ""
            return "\(what) is locked by \(holder); \(waitedText)nothing was changed"
        case .refused(let message, _), .checkFailed(let message, _), .invalidInput(let message, _), .failed(let message),
             .remote(let message, _, _, _):
            return message
        case .io(let operation, let path, let code):
            var text = "cannot \(operation) \(path): \(String(cString: strerror(code)))"
            if code == ENOSPC || code == EDQUOT { text += " (the disk is full)" }
            return text
        case .diskFull(let path, let doing, let outcome, _):
            return "the disk holding \(path) is full: \(doing) failed; \(outcome)"
        case .snapshotGone(let id, let file):
            return "snapshot \(id) is gone: its data file \(file) was removed (pruned?) while this run read the store"
        case .ambiguousID(let id, let matches):
            return "'\(id)' matches \(matches.count) snapshots: \(matches.joined(separator: ", "))"
        case .unsafeFile(let path, let reason):
            return "refusing to use \(path): \(reason). Nothing was changed."
        case .alreadyExists(let path):
            return "\(path) already exists; nothing was changed"
        case .noDatabase:
            return "which database? None was named"
        case .unknownDatabaseName(let name, let file, let known):
            guard let file else { return "no configuration file names a database '\(name)'" }
            return "no database named '\(name)' in \(file)" + (known.isEmpty ? "" : "; it names \(known.joined(separator: ", "))")
        case .noMigrationsFolder(let path):
            return "there is no migrations folder at \(path)"
        case .cannotDecrypt(let id, let recipients, let tried, _) where tried.isEmpty:
            return "snapshot \(id) is encrypted (to \(recipients.joined(separator: ", "))) and no key was given to decrypt it; nothing was changed"
        case .cannotDecrypt(let id, let recipients, let tried, let reason):
            return "snapshot \(id) is encrypted to \(recipients.joined(separator: ", ")), and \(tried.joined(separator: ", ")) cannot decrypt it (\(reason)); nothing was changed"
        }
    }

    /// What to do next, when there is something.
    public var remedy: Remedy? {
        switch self {
        case .snapshotNotFound(_, let remedy): return remedy
        case .verificationFailed: return .chooseAnotherSnapshot
        case .locked: return .waitForLock
        case .refused(_, let remedy), .checkFailed(_, let remedy), .invalidInput(_, let remedy), .remote(_, _, _, let remedy): return remedy
        case .io(_, let path, let code) where code == ENOSPC || code == EDQUOT: return .freeSpace(path: path, store: false)
        case .diskFull(let path, _, _, let store): return .freeSpace(path: path, store: store)
        case .unsafeFile(let path, _): return .removeUnsafeFile(path)
        case .noDatabase(let configured): return .chooseDatabase(configured: configured)
        case .noMigrationsFolder: return .chooseMigrationsFolder
        case .cannotDecrypt(_, let recipients, _, _): return .giveIdentity(recipients: recipients)
        default: return nil
        }
    }

    public var errorDescription: String? { description }
    public var recoverySuggestion: String? { remedy?.plainWords }
}

extension BackstopError {
    /// True for a file operation that failed because its disk (or the user's quota) is full.
    public var isDiskFull: Bool {
        switch self {
        case .diskFull: return true
        case .io(_, _, let code): return code == ENOSPC || code == EDQUOT
        default: return false
        }
    }

    /// Wraps the current `errno` for a failed file operation.
    public static func posix(_ operation: String, _ path: String) -> BackstopError {
        .io(operation: operation, path: path, errno: errno)
    }
}
