import CSQLite
import Foundation

/// Collations and SQL functions that an application registers in its own code, and that a schema may
/// use (an index `COLLATE nocase_utf8`, a `CHECK (valid_email(email))`), are not defined in Backstop.
/// Stand-ins let SQLite read such a schema anyway: a missing collation compares bytes, a missing function
/// returns NULL. What they touch is not what the application would compute, so every caller reports
/// which ones it used and never trusts a result that depends on them (see ``IntegrityCheck``).
final class StandIns {
    private(set) var collations: [String] = []
    private(set) var functions: [String] = []

    /// Registers a byte-order collation for every collation SQLite asks for and does not know.
    func install(on db: OpaquePointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        sqlite3_collation_needed(db, context) { context, db, _, name in
            guard let context, let db, let name else { return }
            let standIns = Unmanaged<StandIns>.fromOpaque(context).takeUnretainedValue()
            let text = String(cString: name)
            sqlite3_create_collation_v2(db, name, SQLITE_UTF8, nil, { _, length1, bytes1, length2, bytes2 in
                let common = Int(min(length1, length2))
                let order = common == 0 ? 0 : memcmp(bytes1!, bytes2!, common)
                if order != 0 { return order }
                return length1 < length2 ? -1 : (length1 > length2 ? 1 : 0)
            }, nil)
            if !standIns.collations.contains(text) { standIns.collations.append(text) }
        }
    }

    /// Registers a function returning NULL under `name` (any number of arguments).
    func addFunction(_ name: String, on db: OpaquePointer) -> Bool {
        let code = sqlite3_create_function_v2(db, name, -1, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nil,
                                              { context, _, _ in sqlite3_result_null(context) }, nil, nil, nil)
        guard code == SQLITE_OK else { return false }
        if !functions.contains(name) { functions.append(name) }
        return true
    }

    /// The function an "no such function: NAME" error names.
    static func missingFunction(in message: String) -> String? {
        for prefix in ["no such function: ", "unknown function: "] {
            if let range = message.range(of: prefix) {
                let name = message[range.upperBound...].prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == "$" }
                if !name.isEmpty { return String(name) }
            }
        }
        return nil
    }
}

extension Database {
    /// Lets this connection read schemas that use collations or functions an application defines in its
    /// own code (see ``StandIns``). Returns what was stood in for so far through ``standInNames``.
    public func enableStandIns() {
        if standIns == nil {
            let standIns = StandIns()
            standIns.install(on: handle)
            self.standIns = standIns
        }
    }

    /// The collations and functions that stand-ins replaced on this connection so far.
    public var standInNames: (collations: [String], functions: [String]) {
        (standIns?.collations ?? [], standIns?.functions ?? [])
    }

    /// Runs `body`; when it fails because the schema calls a function this program does not define,
    /// stands in for it and runs `body` again (at most `attempts` times).
    public func retryingWithStandInFunctions<T>(attempts: Int = 16, _ body: () throws -> T) throws -> T {
        enableStandIns()
        var remaining = attempts
        while true {
            do {
                return try body()
            } catch let error as SQLiteError {
                guard remaining > 0, let name = StandIns.missingFunction(in: error.message),
                      standIns!.addFunction(name, on: handle) else { throw error }
                remaining -= 1
            }
        }
    }
}
