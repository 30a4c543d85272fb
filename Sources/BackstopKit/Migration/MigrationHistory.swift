import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// One applied migration, as recorded in the database itself.
public struct AppliedMigration: Equatable, Sendable {
    /// How a version came to be recorded.
    public enum Kind: String, Sendable, Codable {
        /// Applied by a migration run.
        case migrate
        /// Adopted without running (the database already had it).
        case baseline
    }

    public var version: Int64
    public var name: String
    public var checksum: String
    public var appliedAt: String
    public var durationMs: Int64
    public var rowsChanged: Int64
    /// The pre-migration snapshot taken before the run: restoring it undoes the run.
    public var snapshotID: String?
    public var kind: Kind
    /// The run that applied it (1, 2, 3 ... in the order runs happened; nil in histories written before
    /// runs were numbered).
    public var run: Int64?
    /// Checksums the file had before `repair` accepted an edit, oldest first.
    public var previousChecksums: [String]

    public init(version: Int64, name: String, checksum: String, appliedAt: String, durationMs: Int64, rowsChanged: Int64,
                snapshotID: String?, kind: Kind, run: Int64? = nil, previousChecksums: [String] = []) {
        self.version = version; self.name = name; self.checksum = checksum; self.appliedAt = appliedAt
        self.durationMs = durationMs; self.rowsChanged = rowsChanged; self.snapshotID = snapshotID; self.kind = kind
        self.run = run; self.previousChecksums = previousChecksums
    }
}

/// The history table `backstop_migrations`. It lives in the database, so a restore brings the
/// history back in step with the data.
public enum MigrationHistory {
    public static let table = "backstop_migrations"

    static let createSQL = """
        CREATE TABLE IF NOT EXISTS \(quoteIdentifier(table)) (
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            checksum TEXT NOT NULL,
            applied_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            rows_changed INTEGER NOT NULL,
            snapshot_id TEXT,
            kind TEXT NOT NULL DEFAULT 'migrate',
            run INTEGER,
            previous_checksums TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (version, name)
        )
        """

    /// Creates the table, or adds the columns later versions need to one an earlier version created.
    public static func ensureTable(_ db: Database) throws {
        try db.execute(createSQL)
        let columns = Set(try db.rows("PRAGMA table_info(\(quoteIdentifier(table)))").compactMap { $0[1].string })
        if !columns.contains("run") { try db.execute("ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN run INTEGER") }
        if !columns.contains("previous_checksums") {
            try db.execute("ALTER TABLE \(quoteIdentifier(table)) ADD COLUMN previous_checksums TEXT NOT NULL DEFAULT ''")
        }
    }

    /// Every applied migration, by version. Empty when the table does not exist.
    public static func read(_ db: Database) throws -> [AppliedMigration] {
        try readInOrder(db).sorted { ($0.version, $0.name) < ($1.version, $1.name) }
    }

    /// Every applied migration in the order the history recorded them (its own order, not the clock's).
    public static func readInOrder(_ db: Database) throws -> [AppliedMigration] {
        guard try db.tableExists(table) else { return [] }
        let columns = Set(try db.rows("PRAGMA table_info(\(quoteIdentifier(table)))").compactMap { $0[1].string })
        let run = columns.contains("run") ? "run" : "NULL"
        let previous = columns.contains("previous_checksums") ? "previous_checksums" : "''"
        return try db.rows("""
            SELECT version, name, checksum, applied_at, duration_ms, rows_changed, snapshot_id, kind, \(run), \(previous)
            FROM \(quoteIdentifier(table)) ORDER BY coalesce(\(run), 0), rowid
            """).map { row in
            AppliedMigration(version: row[0].int64 ?? 0, name: row[1].string ?? "", checksum: row[2].string ?? "",
                             appliedAt: row[3].string ?? "", durationMs: row[4].int64 ?? 0, rowsChanged: row[5].int64 ?? 0,
                             snapshotID: row[6].string, kind: AppliedMigration.Kind(rawValue: row[7].string ?? "") ?? .migrate,
                             run: row[8].int64,
                             previousChecksums: (row[9].string ?? "").split(separator: ",").map(String.init))
        }
    }

    /// The next run number (inside the run's transaction, after ``ensureTable(_:)``).
    static func nextRun(_ db: Database) throws -> Int64 {
        try RunHistory.nextRun(db)
    }

    static func record(_ db: Database, _ entry: AppliedMigration) throws {
        try db.prepare("""
            INSERT INTO \(quoteIdentifier(table)) (version, name, checksum, applied_at, duration_ms, rows_changed, snapshot_id, kind, run, previous_checksums)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
            """).all([.integer(entry.version), .text(entry.name), .text(entry.checksum), .text(entry.appliedAt),
                      .integer(entry.durationMs), .integer(entry.rowsChanged), entry.snapshotID.map { .text($0) } ?? .null,
                      .text(entry.kind.rawValue), entry.run.map { .integer($0) } ?? .null,
                      .text(entry.previousChecksums.joined(separator: ","))])
    }

    static func remove(_ db: Database, version: Int64, name: String) throws {
        try db.prepare("DELETE FROM \(quoteIdentifier(table)) WHERE version = ?1 AND name = ?2").all([.integer(version), .text(name)])
    }

    /// Records a new checksum for an applied migration, keeping the old one.
    static func repair(_ db: Database, version: Int64, name: String, checksum: String, previous: [String]) throws {
        try db.prepare("UPDATE \(quoteIdentifier(table)) SET checksum = ?1, previous_checksums = ?2 WHERE version = ?3 AND name = ?4")
            .all([.text(checksum), .text(previous.joined(separator: ",")), .integer(version), .text(name)])
    }
}

/// Where the database stands compared with the migrations folder.
public struct MigrationStatus: Sendable {
    public var currentVersion: Int64?
    public var applied: [AppliedMigration]
    public var pending: [MigrationFile]
    public var problems: [MigrationProblem]
    /// Another tool's layout: migrations its own history records as applied that Backstop's does not
    /// (the tool ran them before Backstop did; `baseline` records them).
    public var appliedByToolOnly: [MigrationFile] = []

    public init(currentVersion: Int64?, applied: [AppliedMigration], pending: [MigrationFile], problems: [MigrationProblem],
                appliedByToolOnly: [MigrationFile] = []) {
        self.currentVersion = currentVersion
        self.applied = applied
        self.pending = pending
        self.problems = problems
        self.appliedByToolOnly = appliedByToolOnly
    }

    /// Compares the folder with the history (Backstop's, and the layout's tool's when given: what either
    /// records as applied is not pending).
    public static func compute(directory: MigrationDirectory, history: [AppliedMigration], toolApplied: Set<Int64>? = nil,
                               toolProblems: [(MigrationFile, String)] = []) -> MigrationStatus {
        var problems = directory.problems
        var pending: [MigrationFile] = []
        let filesByVersion = Dictionary(grouping: directory.files, by: \.version)
        let appliedVersions = Set(history.map(\.version)).union(toolApplied ?? [])
        for file in directory.files where !appliedVersions.contains(file.version) { pending.append(file) }
        for entry in history {
            guard let files = filesByVersion[entry.version] else {
                if entry.kind != .baseline {
                    problems.append(MigrationProblem(kind: .missing, version: entry.version, file: nil,
                        message: "migration \(entry.version) (\(entry.name)) was applied but its file is gone"))
                }
                continue
            }
            let file = files.first { $0.name == entry.name } ?? files[0]
            if file.checksum != entry.checksum {
                problems.append(MigrationProblem(kind: .changed, version: entry.version, file: file.fileName,
                    message: "\(file.fileName) changed after it was applied (\(entry.appliedAt))"))
            }
        }
        for (file, message) in toolProblems where !problems.contains(where: { $0.kind == .changed && $0.version == file.version }) {
            problems.append(MigrationProblem(kind: .changed, version: file.version, file: file.fileName, message: message))
        }
        let newestApplied = appliedVersions.max()
        if let newestApplied {
            for file in pending where file.version < newestApplied {
                problems.append(MigrationProblem(kind: .outOfOrder, version: file.version, file: file.fileName,
                    message: "\(file.fileName) is pending but older than the newest applied migration (\(directory.files.first { $0.version == newestApplied }?.shownVersion ?? String(newestApplied)))"))
            }
        }
        let recorded = Set(history.map(\.version))
        let byToolOnly = directory.files.filter { (toolApplied ?? []).contains($0.version) && !recorded.contains($0.version) }
        return MigrationStatus(currentVersion: newestApplied, applied: history, pending: pending, problems: problems,
                               appliedByToolOnly: byToolOnly)
    }
}

/// The schema version recorded by Backstop's migration history, when the database has one.
public enum SchemaVersion {
    public static func read(from database: Database) throws -> Int64? {
        guard try database.tableExists(MigrationHistory.table) else { return nil }
        return try database.scalar("SELECT max(version) FROM \(quoteIdentifier(MigrationHistory.table))")?.int64
    }
}
