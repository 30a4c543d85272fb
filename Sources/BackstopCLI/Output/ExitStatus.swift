import ArgumentParser
import BackstopKit

/// Backstop's exit statuses: one table, also in the README and at the end of every command's help.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    case success = 0
    case failure = 1
    case usage = 2
    case notFound = 3
    case verificationFailed = 4
    case locked = 5
    case refused = 6
    case checkFailed = 7
    case migrationFailed = 8
    case cannotDecrypt = 9

    public var meaning: String {
        switch self {
        case .success: return "success"
        case .failure: return "any other failure"
        case .usage: return "usage error (bad flag, time, configuration or policy file)"
        case .notFound: return "snapshot, store or matching rows not found"
        case .verificationFailed: return "verification failed: a corrupt or truncated snapshot"
        case .locked: return "locked by another run or connection (after --lock-wait)"
        case .refused: return "refused for safety (would overwrite, needs --yes); nothing changed"
        case .checkFailed: return "refused by a check (guard, drift) before starting; nothing changed"
        case .migrationFailed: return "a migration failed; the whole run was rolled back"
        case .cannotDecrypt: return "encrypted, and no key given decrypts it; nothing changed"
        }
    }

    init(_ kind: FailureKind) {
        switch kind {
        case .usage: self = .usage
        case .notFound: self = .notFound
        case .verification: self = .verificationFailed
        case .locked: self = .locked
        case .refused: self = .refused
        case .checkFailed: self = .checkFailed
        case .migrationFailed: self = .migrationFailed
        case .failure: self = .failure
        case .key: self = .cannotDecrypt
        }
    }

    /// How bad a status is, for `--all`, which exits with the worst of its databases': damaged snapshots
    /// first, then failed migrations, other failures, locks, checks, refusals, missing things, usage.
    var severity: Int {
        switch self {
        case .success: return 0
        case .usage: return 1
        case .cannotDecrypt: return 2
        case .notFound: return 2
        case .refused: return 3
        case .checkFailed: return 4
        case .locked: return 5
        case .failure: return 6
        case .migrationFailed: return 7
        case .verificationFailed: return 8
        }
    }

    static func worst(_ statuses: [ExitStatus]) -> ExitStatus {
        statuses.max { $0.severity < $1.severity } ?? .success
    }

    /// The table, for help texts.
    public static var helpTable: String {
        "EXIT STATUS\n" + allCases.map { "  \($0.rawValue)  \($0.meaning)" }.joined(separator: "\n")
    }
}
