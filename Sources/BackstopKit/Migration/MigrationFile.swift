import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// What another migrator records about a migration, so that Backstop can write that tool's history
/// row exactly as the tool would.
public struct ToolRecordInfo: Equatable, Sendable {
    /// The tool's description (Flyway, sqlx: the name with underscores as spaces).
    public var description: String
    /// drizzle: the journal's `when` (milliseconds), recorded as `created_at`.
    public var createdAt: Int64?
    /// drizzle: SHA-256 (hex) of the file as it is on disk.
    public var sha256Hex: String?
    /// Flyway: CRC-32 of the file's lines, as a signed 32-bit integer.
    public var crc32: Int32?
    /// sqlx: SHA-384 of the up file as it is on disk.
    public var sha384: [UInt8]?
    /// Flyway: the undo file (`U...`) and its checksum.
    public var undoScript: String?
    public var undoCRC32: Int32?

    public init(description: String, createdAt: Int64? = nil, sha256Hex: String? = nil, crc32: Int32? = nil, sha384: [UInt8]? = nil,
                undoScript: String? = nil, undoCRC32: Int32? = nil) {
        self.description = description; self.createdAt = createdAt; self.sha256Hex = sha256Hex; self.crc32 = crc32; self.sha384 = sha384
        self.undoScript = undoScript; self.undoCRC32 = undoCRC32
    }
}

/// One migration, in any layout Backstop reads: Backstop's own `NNNN_name.sql` with its sections, or
/// another migrator's files (drizzle, diesel, golang-migrate, dbmate, goose, Flyway, sqlx).
///
/// Backstop's sections are introduced by comment markers on their own line (outside any string); text
/// before any marker is forward SQL:
/// - `-- backstop:up` forward SQL
/// - `-- backstop:require` queries that must each return no rows before the migration runs
/// - `-- backstop:verify` queries that must each return no rows after it ran
/// - `-- backstop:down` optional reverse SQL
public struct MigrationFile: Equatable, Sendable {
    public enum Section: String, CaseIterable, Sendable { case up, require, verify, down }

    /// The order of migrations (and Backstop's history version).
    public var version: Int64
    public var name: String
    public var fileName: String
    public var path: String
    /// SHA-256 of the migration's text with line endings normalized (CRLF and LF count the same):
    /// drift detection in Backstop's history.
    public var checksum: String
    public var up: [SQLStatement]
    public var require: [SQLStatement]
    public var verify: [SQLStatement]
    public var down: [SQLStatement]?
    /// The layout the migration comes from.
    public var layout: MigrationLayout = .backstop
    /// The version as the layout writes it ("0003", "20260101120000", "1.1").
    public var versionText: String = ""
    /// The statements run with foreign-key actions (ON DELETE / ON UPDATE) carried out, as an app with
    /// enforcement on would see them (the file starts with `PRAGMA foreign_keys = ON`, or asks with
    /// `-- backstop:foreign-keys on`).
    public var enforceForeignKeys = false
    /// The layout marks the migration as not run in a transaction (goose NO TRANSACTION, dbmate
    /// transaction:false, sqlx -- no-transaction, diesel run_in_transaction = false). Backstop still runs
    /// it inside the run's transaction; statements that cannot run in one are refused.
    public var markedNonTransactional = false
    /// What Backstop did with the file's text, worth telling (a BEGIN/COMMIT left out ...).
    public var notes: [String] = []
    /// What the layout's own tool records for it.
    public var tool: ToolRecordInfo?

    /// True when the file has down SQL (a section of only comments undoes nothing: it is no down).
    public var hasDown: Bool { !(down ?? []).isEmpty }
    /// The migration's name as its layout shows it: the file's name without `.sql` (`.up.sql`), or
    /// diesel's folder's name.
    public var displayName: String {
        for suffix in [".up.sql", ".sql"] where fileName.hasSuffix(suffix) { return String(fileName.dropLast(suffix.count)) }
        return fileName
    }
    /// The version in the layout's own words.
    public var shownVersion: String { versionText.isEmpty ? String(version) : versionText }

    /// `0028_populate_provider_configs.sql` -> (28, "populate_provider_configs"), or nil for other names.
    public static func parseName(_ fileName: String) -> (version: Int64, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        let digits = stem.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 18, let version = Int64(digits) else { return nil }
        var rest = stem.dropFirst(digits.count)
        guard rest.first == "_" || rest.first == "-" else { return nil }
        rest = rest.dropFirst()
        guard !rest.isEmpty else { return nil }
        return (version, String(rest))
    }

    /// The file's text with line endings normalized (a CRLF checkout checksums the same as an LF one) and
    /// a UTF-8 byte order mark dropped (it would hide the first `-- backstop:` marker).
    public static func normalizedText(_ data: Data) -> String {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    /// Refuses text SQLite would read differently from a person: a NUL byte ends a statement for SQLite
    /// (`DELETE FROM t<NUL> WHERE ...` runs as `DELETE FROM t`).
    static func refuseNUL(_ data: Data, path: String) throws {
        if let problem = nulProblem(data, path: path) { throw BackstopError.invalidInput(problem) }
    }

    static func nulProblem(_ data: Data, path: String) -> String? {
        guard let index = data.firstIndex(of: 0) else { return nil }
        let line = data[data.startIndex..<index].filter { $0 == UInt8(ascii: "\n") }.count + 1
        return "\(path):\(line): the file holds a NUL byte (byte \(index - data.startIndex)), which would cut the SQL short; remove it"
    }

    /// Reads a migration file's bytes (at most 64 MiB).
    static func read(_ path: String) throws -> Data {
        guard let data = try? FileSystem.readSmallFile(path, limit: 64 << 20) else {
            throw MigrationFileProblems(path: path, messages: ["cannot read \(path)"])
        }
        return data
    }

    /// Reads a migration file's bytes, refusing a NUL byte (a problem of the file, named with its line).
    static func readRefusingNUL(_ path: String) throws -> Data {
        let data = try read(path)
        if let problem = nulProblem(data, path: path) { throw MigrationFileProblems(path: path, messages: [problem]) }
        return data
    }

    /// Loads a migration in Backstop's own layout. Every problem of the file is reported at once.
    public static func load(path: String) throws -> MigrationFile {
        let fileName = (path as NSString).lastPathComponent
        guard let (version, name) = parseName(fileName) else {
            throw MigrationFileProblems(path: path, messages: ["\(path): a migration's name must be NNNN_name.sql"])
        }
        let text = normalizedText(try readRefusingNUL(path))
        var problems: [String] = []
        let sections = MarkedSections.split(text, path: path, problems: &problems) { comment in
            guard comment.lowercased().hasPrefix("backstop:") else { return nil }
            let marker = comment.dropFirst("backstop:".count).trimmingCharacters(in: .whitespaces).lowercased()
            if marker == "foreign-keys on" || marker == "foreign_keys on" { return .option("foreign-keys on") }
            guard let section = Section(rawValue: marker) else {
                return .invalid("unknown section marker '-- backstop:\(marker)'; expected up, require, verify, down or foreign-keys on")
            }
            return .section(section.rawValue)
        }
        let prepared = MigrationSQL.prepare(sections.statements["up"] ?? [], path: path)
        problems += prepared.problems
        for statement in (sections.statements["require"] ?? []) + (sections.statements["verify"] ?? []) + (sections.statements["down"] ?? []) {
            if let reason = SQLScript.forbiddenReason(statement.sql) { problems.append("\(path):\(statement.line): \(reason)") }
        }
        // A file of comments only is a valid placeholder; but one that declares an up section and leaves it
        // empty is a migration not written yet (`backstop new`'s template), never applied as a no-op.
        if sections.seen.contains("up"), prepared.statements.isEmpty, (sections.statements["require"] ?? []).isEmpty,
           (sections.statements["verify"] ?? []).isEmpty {
            problems.append("\(path): the up section holds no SQL yet (a placeholder has no sections at all)")
        }
        guard problems.isEmpty else { throw MigrationFileProblems(path: path, messages: problems) }
        var file = MigrationFile(
            version: version, name: name, fileName: fileName, path: path, checksum: SHA256Hasher.hex(of: Data(text.utf8)),
            up: prepared.statements, require: sections.statements["require"] ?? [], verify: sections.statements["verify"] ?? [],
            down: sections.seen.contains("down") ? sections.statements["down"] ?? [] : nil)
        file.enforceForeignKeys = prepared.enforceForeignKeys || sections.options.contains("foreign-keys on")
        file.notes = prepared.notes
        if file.up.isEmpty && file.require.isEmpty && file.verify.isEmpty {
            file.notes.append("\(fileName) holds no SQL: it runs as a no-op (a placeholder)")
        }
        return file
    }
}

/// Every problem of one migration file.
public struct MigrationFileProblems: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var messages: [String]
    public var description: String { messages.joined(separator: "\n") }
}

/// A file split into sections at comment markers that stand on their own line outside any string.
struct MarkedSections {
    enum Marker { case section(String), option(String), invalid(String) }

    var statements: [String: [SQLStatement]] = [:]
    var seen: Set<String> = []
    var options: Set<String> = []
    /// Options given on the marker line itself (`-- migrate:up transaction:false`).
    var markerOptions: [String: String] = [:]

    /// Splits `text`; `classify` gets each comment line's text (after `--`) and says whether it is a
    /// marker. Text before the first marker belongs to `initial`.
    static func split(_ text: String, path: String, initial: String = "up", problems: inout [String],
                      classify: (String) -> Marker?) -> MarkedSections {
        var result = MarkedSections()
        var current = initial
        var buffer = ""
        var bufferLine = 1
        let inCode = SQLScript.linesStartingInCode(text)
        func close() { result.statements[current, default: []] += SQLScript.split(buffer, firstLine: bufferLine) }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if index < inCode.count, inCode[index], trimmed.hasPrefix("--"),
               let marker = classify(trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces)) {
                switch marker {
                case .invalid(let why):
                    problems.append("\(path):\(index + 1): \(why)")
                    buffer += "\n"   // keeps the lines of what follows
                case .option(let option):
                    result.options.insert(option)
                    buffer += "\n"
                case .section(let name):
                    if result.seen.contains(name) {
                        problems.append("\(path):\(index + 1): the section '\(name)' appears twice")
                    }
                    close()
                    result.seen.insert(name)
                    current = name
                    buffer = ""
                    bufferLine = index + 2
                    result.markerOptions[name] = trimmed
                }
                continue
            }
            buffer += line + "\n"
        }
        close()
        return result
    }
}

/// The statements of a migration's forward SQL, with what Backstop does itself taken out.
struct PreparedStatements {
    var statements: [SQLStatement]
    var notes: [String] = []
    var enforceForeignKeys = false
    var problems: [String] = []
}

enum MigrationSQL {
    /// Takes out what Backstop does itself and refuses what cannot run inside the run's transaction,
    /// reporting every problem at once:
    /// - a `BEGIN` ... `COMMIT` (or `END`) around the whole file is left out, with a note (Backstop runs
    ///   the whole run in one transaction); one in the middle is refused;
    /// - `PRAGMA foreign_keys = OFF` (and the `= ON` that restores it) is left out with a note:
    ///   enforcement is off for the run, and `PRAGMA foreign_key_check` must be clean before commit;
    /// - `PRAGMA foreign_keys = ON` as the first statement of a file without `= OFF` asks for foreign-key
    ///   actions during the migration's own statements (ON DELETE CASCADE deletes as in the app).
    static func prepare(_ statements: [SQLStatement], path: String) -> PreparedStatements {
        var result = PreparedStatements(statements: statements)
        let name = (path as NSString).lastPathComponent
        if result.statements.count >= 2, let first = result.statements.first, let last = result.statements.last,
           firstWords(first.sql).first == "BEGIN", ["COMMIT", "END"].contains(firstWords(last.sql).first ?? "") {
            result.statements.removeFirst()
            result.statements.removeLast()
            result.notes.append("\(name): the BEGIN ... COMMIT around the file is left out: Backstop runs the whole run in one transaction")
        }
        let pragmas = result.statements.enumerated().compactMap { index, statement -> (Int, Bool?)? in
            let words = firstWords(statement.sql)
            guard words.count >= 2, words[0] == "PRAGMA", words[1].split(separator: ".").last.map(String.init) == "FOREIGN_KEYS" else { return nil }
            guard words.count >= 3 else { return (index, nil) }   // a query: harmless
            return (index, ["ON", "1", "TRUE", "YES"].contains(words[2]))
        }
        let turnsOff = pragmas.contains { $0.1 == false }
        var dropped: Set<Int> = []
        if let first = pragmas.first, first.0 == 0, first.1 == true, !turnsOff {
            result.enforceForeignKeys = true
            dropped.insert(first.0)
            result.notes.append("\(name): PRAGMA foreign_keys = ON: its statements run with foreign-key actions (ON DELETE, ON UPDATE) carried out, as with enforcement on")
        } else if turnsOff {
            // OFF, and the ON that restores it afterwards (a table rebuild's usual frame).
            dropped = Set(pragmas.filter { $0.1 != nil }.map(\.0))
            result.notes.append("\(name): PRAGMA foreign_keys = OFF is left out: enforcement is off for the whole run, and PRAGMA foreign_key_check must be clean before commit")
        }
        result.statements = result.statements.enumerated().filter { !dropped.contains($0.offset) }.map(\.element)
        for statement in result.statements {
            if let reason = SQLScript.forbiddenReason(statement.sql) { result.problems.append("\(path):\(statement.line): \(reason)") }
        }
        return result
    }

    /// The first words of a statement, upper-cased, after leading comments.
    static func firstWords(_ sql: String) -> [String] {
        SQLScript.stripLeadingComments(sql).uppercased()
            .split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == ".") })
            .prefix(3).map(String.init)
    }
}
