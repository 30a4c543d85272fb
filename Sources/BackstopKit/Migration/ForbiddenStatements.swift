import BackstopSQLite
import Foundation

extension SQLScript {
    /// Why `statement` cannot run inside a migration's transaction, or nil when it can.
    public static func forbiddenReason(_ statement: String) -> String? {
        let words = stripLeadingComments(statement).uppercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") })
            .prefix(3).map(String.init)
        guard let first = words.first else { return nil }
        switch first {
        case "VACUUM":
            return "VACUUM cannot run inside a transaction; run it separately after migrating"
        case "BEGIN", "COMMIT", "END":
            return "\(first) would break the run's single transaction; Backstop wraps the whole run in one transaction itself"
        case "ROLLBACK" where words.count < 2 || words[1] != "TO":
            return "ROLLBACK would break the run's single transaction; a failing check rolls the run back"
        case "ATTACH", "DETACH":
            return "\(first) cannot run inside a transaction"
        case "PRAGMA":
            guard words.count > 1 else { return nil }
            let name = words[1].split(separator: ".").last.map(String.init) ?? words[1]
            if name == "JOURNAL_MODE" { return "changing journal_mode cannot happen inside a transaction; do it outside migrations" }
            if name == "FOREIGN_KEYS" {
                return "PRAGMA foreign_keys is a no-op inside a transaction; Backstop turns enforcement off for the run and checks PRAGMA foreign_key_check before commit"
            }
            return nil
        default:
            return nil
        }
    }
}
