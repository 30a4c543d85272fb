import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// One applied migration, as recorded in the database itself.
public struct AppliedMigration: Equatable, Sendable {
    public var version: Int64
    public var name: String
    public var checksum: String
    public var appliedAt: String
    public var durationMs: Int64
    public var rowsChanged: Int64
    /// The pre-migration snapshot taken before the run: restoring it undoes the run.
    public var snapshotID: String?
    /// `migrate`, or `baseline` for versions adopted without running them.
    public var kind: String

    public var jsonObject: [String: Any] {
        ["version": version, "name": name, "checksum": checksum, "applied_at": appliedAt, "duration_ms": durationMs,
         "rows_changed": rowsChanged, "snapshot_id": snapshotID ?? NSNull(), "kind": kind]
    }
}

/// The history table `backstop_migrations`. It lives in the database, so a restore brings the
/// history back in step with the data.
public enum MigrationHistory {
    public static let table = SchemaVersion.historyTable

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
            PRIMARY KEY (version, name)
        )
        """

    public static func ensureTable(_ db: Database) throws { try db.execute(createSQL) }

    /// Every applied migration, by version. Empty when the table does not exist.
    public static func read(_ db: Database) throws -> [AppliedMigration] {
        guard try db.tableExists(table) else { return [] }
        return try db.rows("""
            SELECT version, name, checksum, applied_at, duration_ms, rows_changed, snapshot_id, kind
            FROM \(quoteIdentifier(table)) ORDER BY version, name
            """).map { row in
            AppliedMigration(version: row[0].int64 ?? 0, name: row[1].string ?? "", checksum: row[2].string ?? "",
                             appliedAt: row[3].string ?? "", durationMs: row[4].int64 ?? 0, rowsChanged: row[5].int64 ?? 0,
                             snapshotID: row[6].string, kind: row[7].string ?? "migrate")
        }
    }

    static func record(_ db: Database, _ entry: AppliedMigration) throws {
        try db.prepare("""
            INSERT INTO \(quoteIdentifier(table)) (version, name, checksum, applied_at, duration_ms, rows_changed, snapshot_id, kind)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
            """).all([.integer(entry.version), .text(entry.name), .text(entry.checksum), .text(entry.appliedAt),
                      .integer(entry.durationMs), .integer(entry.rowsChanged), entry.snapshotID.map { .text($0) } ?? .null,
                      .text(entry.kind)])
    }

    static func remove(_ db: Database, version: Int64, name: String) throws {
        try db.prepare("DELETE FROM \(quoteIdentifier(table)) WHERE version = ?1 AND name = ?2").all([.integer(version), .text(name)])
    }
}

/// Where the database stands compared with the migrations folder.
public struct MigrationStatus: Sendable {
    public var currentVersion: Int64?
    public var applied: [AppliedMigration]
    public var pending: [MigrationFile]
    public var problems: [MigrationProblem]

    public init(currentVersion: Int64?, applied: [AppliedMigration], pending: [MigrationFile], problems: [MigrationProblem]) {
        self.currentVersion = currentVersion
        self.applied = applied
        self.pending = pending
        self.problems = problems
    }

    /// Compares the folder with the history.
    public static func compute(directory: MigrationDirectory, history: [AppliedMigration]) -> MigrationStatus {
        var problems = directory.problems
        var pending: [MigrationFile] = []
        let filesByVersion = Dictionary(grouping: directory.files, by: \.version)
        let appliedVersions = Set(history.map(\.version))
        for file in directory.files where !appliedVersions.contains(file.version) { pending.append(file) }
        for entry in history {
            guard let files = filesByVersion[entry.version] else {
                if entry.kind != "baseline" {
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
        let newestApplied = history.map(\.version).max()
        if let newestApplied {
            for file in pending where file.version < newestApplied {
                problems.append(MigrationProblem(kind: .outOfOrder, version: file.version, file: file.fileName,
                    message: "\(file.fileName) is pending but older than the newest applied migration (\(newestApplied))"))
            }
        }
        return MigrationStatus(currentVersion: newestApplied, applied: history, pending: pending, problems: problems)
    }
}
