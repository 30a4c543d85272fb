import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// Something wrong with the migrations folder or with the database's history compared to it.
public struct MigrationProblem: Equatable, Sendable {
    public enum Kind: String, CaseIterable, Sendable {
        /// An applied migration whose file changed since.
        case changed
        /// An applied migration whose file is gone.
        case missing
        /// Two files with the same version (two branches merged without renumbering).
        case duplicateVersion = "duplicate_version"
        /// A pending migration older than the newest applied one.
        case outOfOrder = "out_of_order"
        /// A file that cannot be used: bad name, unknown marker, forbidden statement.
        case invalid
        /// The layout's own tool records a failed or unfinished migration (golang-migrate's dirty flag, a
        /// failed Flyway or sqlx row): fix it with that tool, or restore a snapshot.
        case toolFailed = "tool_failed"
    }

    public var kind: Kind
    public var version: Int64?
    public var file: String?
    public var message: String

    /// True when a run may be allowed to proceed despite this problem (not for a file that cannot be used).
    public var canBeOverridden: Bool { kind != .invalid && kind != .toolFailed }
}

/// A folder of migrations in one of the layouts Backstop reads (its own `NNNN_name.sql`, or another
/// migrator's), and an optional `guard.sql`.
public struct MigrationDirectory: Sendable {
    public static let guardFileName = "guard.sql"

    public var path: String
    public var layout: MigrationLayout = .backstop
    /// Every readable migration, ordered by version then name.
    public var files: [MigrationFile]
    /// Flyway's repeatable migrations.
    public var repeatables: [MigrationFile] = []
    /// Queries that must each return no rows before any run or restore.
    public var guardQueries: [SQLStatement]
    /// Problems of the folder itself (no database needed): every problem of every file.
    public var problems: [MigrationProblem]

    public init(path: String, layout: MigrationLayout = .backstop, files: [MigrationFile], repeatables: [MigrationFile] = [],
                guardQueries: [SQLStatement], problems: [MigrationProblem]) {
        self.path = path; self.layout = layout; self.files = files; self.repeatables = repeatables
        self.guardQueries = guardQueries; self.problems = problems
    }

    /// Loads the folder, in `layout` (detected from the folder, and from `databaseTables` where two tools
    /// name files alike, when nil). A missing folder is an error; problems in files are collected, not thrown.
    public static func load(path: String, layout: MigrationLayout? = nil, databaseTables: Set<String> = []) throws -> MigrationDirectory {
        let absolute = FileSystem.absolute(path)
        guard FileSystem.isDirectory(absolute) else {
            throw BackstopError.noMigrationsFolder(absolute)
        }
        let layout = layout ?? MigrationLayout.detect(folder: absolute, databaseTables: databaseTables)
        var loaded = try layout.load(folder: absolute)
        var guardQueries: [SQLStatement] = []
        let guardPath = (absolute as NSString).appendingPathComponent(guardFileName)
        if FileSystem.exists(guardPath) {
            do {
                guardQueries = try MigrationDirectory.readGuard(guardPath)
            } catch {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: guardFileName, message: "\(error)"))
            }
        }
        var files = loaded.files
        files.sort { ($0.version, $0.name) < ($1.version, $1.name) }
        var problems = loaded.problems
        let byVersion = Dictionary(grouping: files, by: \.version)
        for (version, group) in byVersion.sorted(by: { $0.key < $1.key }) where group.count > 1 {
            problems.append(MigrationProblem(
                kind: .duplicateVersion, version: version, file: group.map(\.fileName).joined(separator: ", "),
                message: "\(group.count) files share version \(group[0].shownVersion): \(group.map(\.fileName).joined(separator: ", ")) (renumber one of them)"))
        }
        return MigrationDirectory(path: absolute, layout: layout, files: files, repeatables: loaded.repeatables,
                                  guardQueries: guardQueries, problems: problems)
    }

    /// The version a user names (`28`, `0028`, Flyway's `1.1`, a timestamp) as Backstop orders it, or nil.
    public func version(named text: String) -> Int64? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let file = files.first(where: { $0.versionText == trimmed }) { return file.version }
        if layout == .flyway, let keys = FlywayLayout.orderKeys(files.map(\.versionText) + [trimmed]), files.contains(where: { $0.versionText.contains(".") }) {
            return keys[trimmed]
        }
        return Int64(trimmed)
    }

    /// The guard queries of the folder at `path`, or none when it has no guard.sql (or does not exist).
    public static func guardQueries(at path: String) throws -> [SQLStatement] {
        let file = (FileSystem.absolute(path) as NSString).appendingPathComponent(guardFileName)
        guard FileSystem.exists(file) else { return [] }
        return try readGuard(file)
    }

    /// The statements of a file of queries (a guard, verify queries), refusing NUL bytes.
    public static func readQueries(_ file: String) throws -> [SQLStatement] {
        try readGuard(FileSystem.absolute(file))
    }

    static func readGuard(_ file: String) throws -> [SQLStatement] {
        let data = try FileSystem.readSmallFile(file, limit: 16 << 20)
        try MigrationFile.refuseNUL(data, path: file)
        return SQLScript.split(MigrationFile.normalizedText(data))
    }

    /// Creates the next numbered migration from a commented template; returns its path.
    public static func createNext(in path: String, name: String) throws -> String {
        let absolute = FileSystem.absolute(path)
        if !FileSystem.isDirectory(absolute) {
            try FileManager.default.createDirectory(atPath: absolute, withIntermediateDirectories: true)
        }
        let slug = name.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            .split(separator: "_").joined(separator: "_")
        guard !slug.isEmpty, slug.allSatisfy({ $0.isASCII }) else {
            throw BackstopError.invalidInput("the name '\(name)' has no letters or digits to name a file with")
        }
        let names = try FileSystem.listDirectory(absolute)
        let parsed = names.compactMap { name in MigrationFile.parseName(name).map { (name, $0.version) } }
        let next = (parsed.map(\.1).max() ?? 0) + 1
        let width = max(4, parsed.map { $0.0.prefix { $0.isNumber }.count }.max() ?? 4)
        let digits = String(next)
        let fileName = String(repeating: "0", count: max(0, width - digits.count)) + digits + "_" + slug + ".sql"
        let full = (absolute as NSString).appendingPathComponent(fileName)
        let template = """
        -- \(fileName): \(name)
        --
        -- Backstop runs every pending migration of a run in one transaction, after a pre-migration
        -- snapshot. Foreign keys are not enforced during the run (so table rebuilds are safe, and
        -- ON DELETE actions do not fire); PRAGMA foreign_key_check must be empty before commit.
        -- VACUUM, BEGIN/COMMIT and changing journal_mode are not allowed here.

        -- backstop:require
        -- Queries that must each return no rows before this migration runs, e.g.
        -- SELECT id FROM sessions WHERE status = 'running';

        -- backstop:up
        -- The forward SQL.

        -- backstop:verify
        -- Queries that must each return no rows after it ran, e.g.
        -- SELECT family_slug FROM profiles GROUP BY family_slug HAVING count(*) > 1;

        -- backstop:down
        -- Optional reverse SQL, for going down without a restore (restore is the primary way back).

        """
        guard !FileSystem.exists(full) else { throw BackstopError.alreadyExists(path: full) }
        try FileSystem.writeAtomically(Data(template.utf8), to: full, mode: 0o644, replace: false)
        return full
    }
}

/// A run refused because of problems with the folder or the history. Nothing was changed.
public struct MigrationProblemsError: Error, CustomStringConvertible, LocalizedError, Sendable {
    public var problems: [MigrationProblem]

    public var description: String {
        "migrations cannot run while these problems stand; nothing was changed:" + problems.map { "\n  - \($0.message)" }.joined()
    }
    public var errorDescription: String? { description }
}
