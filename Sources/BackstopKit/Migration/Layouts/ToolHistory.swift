import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// Another migrator's history table, read and written the way that tool does, so that after Backstop
/// applies (or undoes) a migration the tool agrees on what is applied.
struct ToolHistory {
    let layout: MigrationLayout
    var table: String { layout.historyTable ?? "" }

    /// The migrations the tool considers applied (Backstop versions), or nil when its table is not there.
    func applied(_ db: Database, files: [MigrationFile]) throws -> Set<Int64>? {
        guard try db.tableExists(table) else { return nil }
        switch layout {
        case .backstop:
            return nil
        case .drizzle:
            // drizzle runs every migration whose `when` is later than the newest created_at.
            guard let newest = try db.scalar("SELECT created_at FROM \"__drizzle_migrations\" ORDER BY created_at DESC LIMIT 1"),
                  let last = newest.int64 ?? newest.string.flatMap({ Int64($0) }) else { return [] }
            return Set(files.filter { ($0.tool?.createdAt ?? .max) <= last }.map(\.version))
        case .diesel:
            let versions = Set(try db.rows("SELECT version FROM __diesel_schema_migrations").compactMap { $0[0].string ?? $0[0].int64.map(String.init) })
            return Set(files.filter { versions.contains($0.versionText) }.map(\.version))
        case .golangMigrate:
            guard let row = try db.rows("SELECT version FROM schema_migrations LIMIT 1").first, let current = row[0].int64 else { return [] }
            return Set(files.filter { $0.version <= current }.map(\.version))
        case .dbmate:
            let versions = Set(try db.rows("SELECT version FROM schema_migrations").compactMap { $0[0].string ?? $0[0].int64.map(String.init) })
            return Set(files.filter { versions.contains($0.versionText) }.map(\.version))
        case .goose:
            // The newest row of each version says whether it is applied.
            let applied = Set(try db.rows("""
                SELECT version_id FROM goose_db_version g
                WHERE id = (SELECT max(id) FROM goose_db_version h WHERE h.version_id = g.version_id) AND is_applied
                """).compactMap { $0[0].int64 })
            return Set(files.filter { applied.contains($0.version) }.map(\.version))
        case .flyway:
            var applied: Set<String> = []
            var baseline: String?
            for row in try db.rows("SELECT version, type, success FROM flyway_schema_history WHERE version IS NOT NULL ORDER BY installed_rank") {
                guard let version = row[0].string ?? row[0].int64.map(String.init) else { continue }
                let type = row[1].string ?? ""
                let success = (row[2].int64 ?? 0) != 0
                if type == "BASELINE" { baseline = version; continue }
                if type.hasPrefix("UNDO") { applied.remove(version) } else if success { applied.insert(version) }
            }
            let baselineKey = baseline.flatMap { b in files.first { $0.versionText == b }?.version }
            return Set(files.filter { file in
                applied.contains(file.versionText) || (baselineKey.map { file.version <= $0 } ?? false)
            }.map(\.version))
        case .sqlx:
            let versions = Set(try db.rows("SELECT version FROM _sqlx_migrations WHERE success").compactMap { $0[0].int64 })
            return Set(files.filter { versions.contains($0.version) }.map(\.version))
        }
    }

    /// Applied migrations whose file no longer matches what the tool recorded (sqlx and Flyway refuse to
    /// start then), in words.
    func checksumMismatches(_ db: Database, files: [MigrationFile]) throws -> [(MigrationFile, String)] {
        guard try db.tableExists(table) else { return [] }
        var found: [(MigrationFile, String)] = []
        switch layout {
        case .sqlx:
            for row in try db.rows("SELECT version, checksum FROM _sqlx_migrations WHERE success") {
                guard let version = row[0].int64, case .blob(let checksum) = row[1],
                      let file = files.first(where: { $0.version == version }), let expected = file.tool?.sha384 else { continue }
                if checksum != expected { found.append((file, "sqlx would refuse to start: \(file.fileName) was changed after it was applied")) }
            }
        case .flyway:
            for row in try db.rows("SELECT version, checksum FROM flyway_schema_history WHERE version IS NOT NULL AND type = 'SQL' AND success") {
                guard let version = row[0].string, let checksum = row[1].int64,
                      let file = files.first(where: { $0.versionText == version }), let expected = file.tool?.crc32 else { continue }
                if Int32(truncatingIfNeeded: checksum) != expected {
                    found.append((file, "Flyway's validate would fail: \(file.fileName) was changed after it was applied (checksum \(checksum), now \(expected))"))
                }
            }
        default:
            break
        }
        return found
    }

    /// Refuses a table of that name whose columns are not the tool's (another tool shares the name).
    func checkShape(_ db: Database) throws {
        guard layout != .backstop, try db.tableExists(table) else { return }
        let columns = Set(try db.rows("SELECT lower(name) FROM pragma_table_info(?1)", [.text(table)]).compactMap { $0[0].string })
        let needed: Set<String>
        switch layout {
        case .backstop: return
        case .drizzle: needed = ["hash", "created_at"]
        case .diesel: needed = ["version", "run_on"]
        case .golangMigrate: needed = ["version", "dirty"]
        case .dbmate: needed = ["version"]
        case .goose: needed = ["version_id", "is_applied"]
        case .flyway: needed = ["installed_rank", "version", "description", "type", "script", "checksum", "installed_by", "execution_time", "success"]
        case .sqlx: needed = ["version", "description", "success", "checksum", "execution_time"]
        }
        guard needed.isSubset(of: columns) else {
            throw BackstopError.refused(
                "the database has a table \(table), but not \(layout.rawValue)'s (its columns are \(columns.sorted().joined(separator: ", "))); Backstop would not know how to record migrations in it; nothing was changed",
                remedy: .migrationStatus)
        }
    }

    /// Creates the table as the tool does, inside the run's transaction.
    func prepare(_ db: Database) throws {
        switch layout {
        case .backstop:
            return
        case .drizzle:
            try db.execute("""
                CREATE TABLE IF NOT EXISTS "__drizzle_migrations" (
                \tid SERIAL PRIMARY KEY,
                \thash text NOT NULL,
                \tcreated_at numeric
                )
                """)
        case .diesel:
            try db.execute("CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)")
        case .golangMigrate:
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version uint64,dirty bool); CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON schema_migrations (version)")
        case .dbmate:
            try db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version varchar(128) primary key)")
        case .goose:
            if try !db.tableExists(table) {
                // goose creates the table and records version 0 in it.
                try db.execute("""
                    CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY AUTOINCREMENT, version_id INTEGER NOT NULL, is_applied INTEGER NOT NULL, tstamp TIMESTAMP DEFAULT (datetime('now')));
                    INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, 1);
                    """)
            }
        case .flyway:
            try db.execute("""
                CREATE TABLE IF NOT EXISTS "flyway_schema_history" (
                    "installed_rank" INT NOT NULL PRIMARY KEY,
                    "version" VARCHAR(50),
                    "description" VARCHAR(200) NOT NULL,
                    "type" VARCHAR(20) NOT NULL,
                    "script" VARCHAR(1000) NOT NULL,
                    "checksum" INT,
                    "installed_by" VARCHAR(100) NOT NULL,
                    "installed_on" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now')),
                    "execution_time" INT NOT NULL,
                    "success" BOOLEAN NOT NULL
                );
                CREATE INDEX IF NOT EXISTS "flyway_schema_history_s_idx" ON "flyway_schema_history" ("success");
                """)
        case .sqlx:
            try db.execute("""
                CREATE TABLE IF NOT EXISTS _sqlx_migrations (
                    version BIGINT PRIMARY KEY,
                    description TEXT NOT NULL,
                    installed_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
                    success BOOLEAN NOT NULL,
                    checksum BLOB NOT NULL,
                    execution_time BIGINT NOT NULL
                )
                """)
        }
    }

    /// Records `file` as applied, as the tool would after running it.
    func recordApplied(_ file: MigrationFile, db: Database, elapsed: TimeInterval) throws {
        switch layout {
        case .backstop:
            return
        case .drizzle:
            try db.prepare("INSERT INTO \"__drizzle_migrations\" (\"hash\", \"created_at\") VALUES (?1, ?2)")
                .all([.text(file.tool?.sha256Hex ?? ""), .integer(file.tool?.createdAt ?? 0)])
        case .diesel:
            try db.prepare("INSERT INTO __diesel_schema_migrations (version) VALUES (?1)").all([.text(file.versionText)])
        case .golangMigrate:
            try setGolangVersion(file.version, db: db)
        case .dbmate:
            try db.prepare("INSERT INTO schema_migrations (version) VALUES (?1)").all([.text(file.versionText)])
        case .goose:
            try db.prepare("INSERT INTO goose_db_version (version_id, is_applied) VALUES (?1, 1)").all([.integer(file.version)])
        case .flyway:
            try insertFlyway(version: file.versionText.isEmpty ? nil : file.versionText, description: file.tool?.description ?? file.name,
                             type: "SQL", script: file.fileName, checksum: file.tool?.crc32, elapsed: elapsed, db: db)
        case .sqlx:
            try db.prepare("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (?1, ?2, TRUE, ?3, ?4)")
                .all([.integer(file.version), .text(file.tool?.description ?? file.name), .blob(file.tool?.sha384 ?? []),
                      .integer(Int64(elapsed * 1_000_000_000))])
        }
    }

    /// Records `file` as undone. `remaining` are the migrations still applied afterwards.
    func recordUndone(_ file: MigrationFile, db: Database, remaining: [MigrationFile]) throws {
        switch layout {
        case .backstop:
            return
        case .drizzle:
            try db.prepare("DELETE FROM \"__drizzle_migrations\" WHERE created_at = ?1").all([.integer(file.tool?.createdAt ?? 0)])
        case .diesel:
            try db.prepare("DELETE FROM __diesel_schema_migrations WHERE version = ?1").all([.text(file.versionText)])
        case .golangMigrate:
            if let previous = remaining.map(\.version).filter({ $0 < file.version }).max() {
                try setGolangVersion(previous, db: db)
            } else {
                try db.execute("DELETE FROM schema_migrations")
            }
        case .dbmate:
            try db.prepare("DELETE FROM schema_migrations WHERE version = ?1").all([.text(file.versionText)])
        case .goose:
            try db.prepare("DELETE FROM goose_db_version WHERE version_id = ?1").all([.integer(file.version)])
        case .flyway:
            // Flyway Teams records an undo as an UNDO_SQL row of the version.
            try insertFlyway(version: file.versionText, description: file.tool?.description ?? file.name, type: "UNDO_SQL",
                             script: file.tool?.undoScript ?? "U" + file.fileName.dropFirst(), checksum: file.tool?.undoCRC32, elapsed: 0, db: db)
        case .sqlx:
            try db.prepare("DELETE FROM _sqlx_migrations WHERE version = ?1").all([.integer(file.version)])
        }
    }

    private func setGolangVersion(_ version: Int64, db: Database) throws {
        try db.execute("DELETE FROM schema_migrations")
        try db.prepare("INSERT INTO schema_migrations (version, dirty) VALUES (?1, ?2)").all([.integer(version), .integer(0)])
    }

    private func insertFlyway(version: String?, description: String, type: String, script: String, checksum: Int32?,
                              elapsed: TimeInterval, db: Database) throws {
        let rank = try db.int("SELECT coalesce(max(installed_rank), 0) + 1 FROM flyway_schema_history")
        let user = getpwuid(geteuid()).flatMap { $0.pointee.pw_name.map { String(cString: $0) } } ?? "backstop"
        try db.prepare("""
            INSERT INTO flyway_schema_history (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 1)
            """).all([.integer(rank), version.map { .text($0) } ?? .null, .text(description), .text(type), .text(script),
                      checksum.map { .integer(Int64($0)) } ?? .null, .text(user), .integer(Int64(elapsed * 1000))])
    }

    /// Flyway's repeatable migrations that would run: never applied, or changed since the last time.
    func pendingRepeatables(_ db: Database, repeatables: [MigrationFile]) throws -> [MigrationFile] {
        guard layout == .flyway, !repeatables.isEmpty else { return [] }
        guard try db.tableExists(table) else { return repeatables }
        return try repeatables.filter { file in
            let last = try db.scalar("SELECT checksum FROM flyway_schema_history WHERE version IS NULL AND script = ?1 AND success ORDER BY installed_rank DESC LIMIT 1",
                                     [.text(file.fileName)])
            return last?.int64.map { Int32(truncatingIfNeeded: $0) } != file.tool?.crc32
        }
    }
}
