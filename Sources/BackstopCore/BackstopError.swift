import Foundation

/// What kind of failure an error is: the command line maps each to one documented exit status.
public enum FailureKind: Sendable {
    case usage, notFound, verification, locked, refused, checkFailed, migrationFailed, failure
}

/// The errors Backstop reports to its users. Each says what went wrong; `hint` says what to do next.
public enum BackstopError: Error, CustomStringConvertible, Sendable {
    /// No snapshot matches the selection.
    case snapshotNotFound(String)
    /// A snapshot failed verification (checksum, size, decompression or integrity check).
    case verificationFailed(id: String, reason: String)
    /// Another run holds the lock on a store or database.
    case locked(what: String, holder: String, waited: TimeInterval)
    /// Refused for safety: nothing was changed.
    case refused(String, hint: String)
    /// Invalid input (a time, a configuration file, a policy ...).
    case invalidInput(String)
    /// A file operation failed.
    case io(operation: String, path: String, errno: Int32)
    /// A failed check (guard, precondition, postcondition, drift ...). Nothing was changed.
    case checkFailed(String, hint: String)
    /// A snapshot that was listed is gone (pruned meanwhile): not found, never "corrupt".
    case snapshotGone(id: String, file: String)
    /// An id prefix that matches several snapshots (all listed).
    case ambiguousID(String, matches: [String])
    /// A file where Backstop expected its own (a lock, a snapshot) is a symbolic link, a FIFO, a device
    /// or a hard link: it was not used. Nothing was changed.
    case unsafeFile(path: String, reason: String)
    /// A file that must be new already exists. Nothing was changed.
    case alreadyExists(path: String)
    /// Anything else, with context.
    case failed(String)

    public var kind: FailureKind {
        switch self {
        case .failed, .io: return .failure
        case .snapshotNotFound, .snapshotGone: return .notFound
        case .verificationFailed: return .verification
        case .locked: return .locked
        case .refused, .unsafeFile, .alreadyExists: return .refused
        case .invalidInput, .ambiguousID: return .usage
        case .checkFailed: return .checkFailed
        }
    }

    public var description: String {
        switch self {
        case .snapshotNotFound(let what):
            return what
        case .verificationFailed(let id, let reason):
            return "snapshot \(id) failed verification: \(reason)"
        case .locked(let what, let holder, let waited):
            let waitedText = waited > 0 ? " after waiting \(Int(waited.rounded()))s" : ""
            return "\(what) is locked by another run (\(holder))\(waitedText). Nothing was changed."
        case .refused(let message, _):
            return message
        case .invalidInput(let message):
            return message
        case .io(let operation, let path, let code):
            var text = "cannot \(operation) \(path): \(String(cString: strerror(code)))"
            if code == ENOSPC || code == EDQUOT { text += " (the disk is full)" }
            return text
        case .checkFailed(let message, _):
            return message
        case .snapshotGone(let id, let file):
            return "snapshot \(id) is gone: its data file \(file) was removed (pruned?) while this run read the store"
        case .ambiguousID(let id, let matches):
            return "'\(id)' matches \(matches.count) snapshots: \(matches.joined(separator: ", "))"
        case .unsafeFile(let path, let reason):
            return "refusing to use \(path): \(reason). Nothing was changed."
        case .alreadyExists(let path):
            return "\(path) already exists; nothing was changed"
        case .failed(let message):
            return message
        }
    }

    /// The next thing to try, when there is one.
    public var hint: String? {
        switch self {
        case .snapshotNotFound:
            return "run 'backstop list' to see the snapshots of this database"
        case .verificationFailed:
            return "do not restore from this snapshot; pick another with 'backstop list' and check it with 'backstop verify ID --deep'"
        case .locked:
            return "wait for the other run to finish, or raise --lock-wait"
        case .refused(_, let hint), .checkFailed(_, let hint):
            return hint.isEmpty ? nil : hint
        case .unsafeFile:
            return "remove it (only Backstop should create it), check who planted it, and run the command again"
        case .io(_, _, let code) where code == ENOSPC || code == EDQUOT:
            return "free some space (for example 'backstop prune') and run the command again"
        default:
            return nil
        }
    }
}

extension BackstopError {
    /// Wraps the current `errno` for a failed file operation.
    public static func posix(_ operation: String, _ path: String) -> BackstopError {
        .io(operation: operation, path: path, errno: errno)
    }
}
