import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// One run of an application's own migrator under `backstop run`, as recorded in the database.
public struct WrappedRunRecord: Equatable, Sendable {
    /// The run number, shared with Backstop's own migration runs (1, 2, 3 ... in the order runs happened).
    public var run: Int64
    /// The command, as a shell would show it.
    public var command: String
    public var exitStatus: Int32
    /// The application's migrator and its versions before and after the run.
    public var tool: String?
    public var versionBefore: String?
    public var versionAfter: String?
    /// The pre-migration snapshot: restoring it undoes the run.
    public var snapshotID: String?
    public var startedAt: String
    public var durationMs: Int64
    /// `applied`, or `failed` when the run failed and its state was kept on purpose (`--no-restore`).
    public var outcome: String

    public init(run: Int64, command: String, exitStatus: Int32, tool: String?, versionBefore: String?, versionAfter: String?,
                snapshotID: String?, startedAt: String, durationMs: Int64, outcome: String) {
        self.run = run; self.command = command; self.exitStatus = exitStatus; self.tool = tool
        self.versionBefore = versionBefore; self.versionAfter = versionAfter; self.snapshotID = snapshotID
        self.startedAt = startedAt; self.durationMs = durationMs; self.outcome = outcome
    }
}

/// The table `backstop_runs`: runs of an application's own migrator that Backstop protected. It lives in
/// the database beside `backstop_migrations`, so a restore brings it back in step with the data, and
/// its run numbers continue Backstop's own.
public enum RunHistory {
    public static let table = "backstop_runs"

    static let createSQL = """
        CREATE TABLE IF NOT EXISTS \(quoteIdentifier(table)) (
            run INTEGER NOT NULL PRIMARY KEY,
            command TEXT NOT NULL,
            exit_status INTEGER NOT NULL,
            tool TEXT,
            version_before TEXT,
            version_after TEXT,
            snapshot_id TEXT,
            started_at TEXT NOT NULL,
            duration_ms INTEGER NOT NULL,
            outcome TEXT NOT NULL
        )
        """

    /// Every recorded run, in run order. Empty when the table does not exist.
    public static func read(_ db: Database) throws -> [WrappedRunRecord] {
        guard try db.tableExists(table) else { return [] }
        return try db.rows("""
            SELECT run, command, exit_status, tool, version_before, version_after, snapshot_id, started_at, duration_ms, outcome
            FROM \(quoteIdentifier(table)) ORDER BY run
            """).map { row in
            WrappedRunRecord(run: row[0].int64 ?? 0, command: row[1].string ?? "", exitStatus: Int32(truncatingIfNeeded: row[2].int64 ?? 0),
                             tool: row[3].string, versionBefore: row[4].string, versionAfter: row[5].string, snapshotID: row[6].string,
                             startedAt: row[7].string ?? "", durationMs: row[8].int64 ?? 0, outcome: row[9].string ?? "")
        }
    }

    /// The next run number across Backstop's own runs and wrapped ones (inside a write transaction).
    static func nextRun(_ db: Database) throws -> Int64 {
        var last: Int64 = 0
        if try db.tableExists(MigrationHistory.table) {
            last = try db.int("SELECT coalesce(max(run), 0) FROM \(quoteIdentifier(MigrationHistory.table))")
        }
        if try db.tableExists(table) {
            last = max(last, try db.int("SELECT coalesce(max(run), 0) FROM \(quoteIdentifier(table))"))
        }
        return last + 1
    }

    /// Records a run with the next run number, in one transaction; returns the record.
    static func record(_ db: Database, _ makeRecord: (Int64) -> WrappedRunRecord) throws -> WrappedRunRecord {
        try db.inWriteTransaction {
            try db.execute(createSQL)
            let record = makeRecord(try nextRun(db))
            try db.prepare("""
                INSERT INTO \(quoteIdentifier(table)) (run, command, exit_status, tool, version_before, version_after, snapshot_id, started_at, duration_ms, outcome)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """).all([.integer(record.run), .text(record.command), .integer(Int64(record.exitStatus)),
                          record.tool.map { .text($0) } ?? .null, record.versionBefore.map { .text($0) } ?? .null,
                          record.versionAfter.map { .text($0) } ?? .null, record.snapshotID.map { .text($0) } ?? .null,
                          .text(record.startedAt), .integer(record.durationMs), .text(record.outcome)])
            return record
        }
    }
}
