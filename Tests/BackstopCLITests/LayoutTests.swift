import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// The migration folders apps already have, read in place; after `backstop migrate` (and `down`, and
/// `rollback`) each tool's own start-up check, emulated here from its history table the way the tool
/// reads it, finds exactly what Backstop says is pending: nothing after a full run.
final class LayoutTests: BackstopTestCase {
    static var corpus: String { BackstopTestCase.packageRoot + "/Tests/fixtures/layouts" }

    // MARK: - Each tool's start-up check, written from the tool's behaviour (not from Backstop's code)

    /// The versions (as the tool names them) that the tool would apply at start-up, or a failure it
    /// would stop with.
    func toolWouldApply(_ layout: String, db: String) throws -> [String] {
        let folder = LayoutTests.corpus + "/" + layout
        let database = try Database(path: db, mode: .readOnly)
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        func strings(_ sql: String) throws -> [String] { try database.rows(sql).map { $0[0].string ?? $0[0].int64.map(String.init) ?? "" } }
        switch layout {
        case "drizzle":
            // drizzle-orm's migrator: run each journal entry whose `when` is later than the newest created_at.
            let journal = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/meta/_journal.json"))) as! [String: Any]
            let entries = journal["entries"] as! [[String: Any]]
            let last = try database.tableExists("__drizzle_migrations")
                ? try database.scalar("SELECT created_at FROM __drizzle_migrations ORDER BY created_at DESC LIMIT 1")?.int64 : nil
            // And each applied one's hash is the SHA-256 of its file.
            if try database.tableExists("__drizzle_migrations") {
                for row in try database.rows("SELECT hash, created_at FROM __drizzle_migrations") {
                    let entry = entries.first { ($0["when"] as! NSNumber).int64Value == row[1].int64 }!
                    XCTAssertEqual(row[0].string, try sha(256, folder + "/" + (entry["tag"] as! String) + ".sql"))
                }
            }
            return entries.filter { last == nil || ($0["when"] as! NSNumber).int64Value > last! }.map { $0["tag"] as! String }
        case "diesel":
            let applied = try database.tableExists("__diesel_schema_migrations") ? Set(try strings("SELECT version FROM __diesel_schema_migrations")) : []
            return names.filter { !$0.hasPrefix(".") && !$0.hasSuffix(".md") }.map { String($0.prefix { $0 != "_" }.filter { $0 != "-" }) }
                .filter { !applied.contains($0) }
        case "golang-migrate":
            var current: Int64 = -1
            if try database.tableExists("schema_migrations"), let row = try database.rows("SELECT version, dirty FROM schema_migrations").first {
                XCTAssertEqual(row[1].int64, 0, "golang-migrate refuses a dirty database")
                current = row[0].int64 ?? -1
            }
            return names.filter { $0.hasSuffix(".up.sql") }.map { String($0.prefix { $0.isNumber }) }.filter { Int64($0)! > current }
        case "dbmate":
            let applied = try database.tableExists("schema_migrations") ? Set(try strings("SELECT version FROM schema_migrations")) : []
            return names.filter { $0.hasSuffix(".sql") }.map { String($0.prefix { $0.isNumber }) }.filter { !applied.contains($0) }
        case "goose":
            // goose's current version: the newest row of the newest version whose newest row is applied.
            var current: Int64 = 0
            if try database.tableExists("goose_db_version") {
                var seen: Set<Int64> = []
                for row in try database.rows("SELECT version_id, is_applied FROM goose_db_version ORDER BY id DESC") {
                    let version = row[0].int64!
                    if seen.contains(version) { continue }
                    seen.insert(version)
                    if row[1].int64 == 1 { current = max(current, version) }
                }
            }
            return names.filter { $0.hasSuffix(".sql") }.map { String($0.prefix { $0.isNumber }) }.filter { Int64($0)! > current }
        case "flyway":
            var applied: [String: Bool] = [:]
            var repeatableChecksums: [String: Int64] = [:]
            if try database.tableExists("flyway_schema_history") {
                for row in try database.rows("SELECT version, type, script, checksum, success FROM flyway_schema_history ORDER BY installed_rank") {
                    if let version = row[0].string {
                        applied[version] = row[1].string == "SQL" && row[4].int64 == 1
                        // Flyway's validate: an applied migration's checksum is its file's.
                        if row[1].string == "SQL", let checksum = row[3].int64 {
                            XCTAssertEqual(Int32(truncatingIfNeeded: checksum), try flywayChecksum(folder + "/" + row[2].string!), row[2].string!)
                        }
                    } else if let checksum = row[3].int64 {
                        repeatableChecksums[row[2].string!] = checksum
                    }
                }
            }
            func parts(_ v: String) -> [Int] { v.split(separator: ".").map { Int($0)! } }
            let newest = applied.filter(\.value).keys.max { parts($0).lexicographicallyPrecedes(parts($1)) }
            // Versioned migrations above the newest applied one (V2_1 is version 2.1), then changed repeatables.
            var pending = names.filter { $0.hasPrefix("V") }
                .map { String($0.dropFirst()).components(separatedBy: "__")[0].replacingOccurrences(of: "_", with: ".") }
                .filter { v in newest.map { parts($0).lexicographicallyPrecedes(parts(v)) } ?? true }
            for name in names where name.hasPrefix("R__") {
                if repeatableChecksums[name].map({ Int32(truncatingIfNeeded: $0) }) != (try flywayChecksum(folder + "/" + name)) { pending.append(name) }
            }
            return pending
        case "sqlx":
            var applied: [Int64: [UInt8]] = [:]
            if try database.tableExists("_sqlx_migrations") {
                XCTAssertEqual(try database.int("SELECT count(*) FROM _sqlx_migrations WHERE NOT success"), 0, "sqlx refuses a failed migration")
                for row in try database.rows("SELECT version, checksum FROM _sqlx_migrations") {
                    if case .blob(let checksum) = row[1] { applied[row[0].int64!] = checksum }
                }
            }
            var pending: [String] = []
            for name in names where name.hasSuffix(".up.sql") {
                let version = Int64(name.prefix { $0.isNumber })!
                if let checksum = applied[version] {
                    XCTAssertEqual(checksum.map { String(format: "%02x", $0) }.joined(), try sha(384, folder + "/" + name), "sqlx: \(name) was previously applied but has been modified")
                } else {
                    pending.append(String(version))
                }
            }
            return pending
        default:
            XCTFail("no emulation for \(layout)")
            return []
        }
    }

    /// `sha256sum` / `sha384sum` of a file, as the tools compute it.
    func sha(_ bits: Int, _ file: String) throws -> String {
        let result = try run("/usr/bin/sha\(bits)sum", [file])
        XCTAssertEqual(result.status, 0, result.stderr)
        return String(result.stdout.prefix { $0 != " " })
    }

    /// Flyway's checksum: java.util.zip.CRC32 over each line without its line ending (computed here bit by bit).
    func flywayChecksum(_ file: String) throws -> Int32 {
        var crc: UInt32 = 0xFFFF_FFFF
        var lines = try String(contentsOfFile: file, encoding: .utf8).components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }   // BufferedReader.readLine gives no line after the last newline
        for line in lines {
            for byte in line.replacingOccurrences(of: "\r", with: "").utf8 {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0xEDB8_8320 : crc >> 1 }
            }
        }
        return Int32(bitPattern: ~crc)
    }

    // MARK: - The runs

    func migrate(_ layout: String, _ extra: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        let result = try backstop(["migrate", "--db", "app.db", "--dir", LayoutTests.corpus + "/" + layout, "--yes"] + extra
                                  + (layout == "sqlx" ? ["--format", "sqlx"] : []))
        XCTAssertEqual(result.status, 0, "\(layout): \(result.stderr)", file: file, line: line)
        return result
    }

    /// After the four migrations: 2 users with a role, 2 posts (the spam user's went with the cascade).
    func assertFullyMigrated(_ layout: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let db = try Database(path: path("app.db"), mode: .readOnly)
        XCTAssertEqual(try db.int("SELECT count(*) FROM users WHERE role = 'member'"), 2, layout, file: file, line: line)
        XCTAssertEqual(try db.int("SELECT count(*) FROM posts"), 2, "\(layout): ON DELETE CASCADE did its work", file: file, line: line)
        XCTAssertEqual(try db.rows("PRAGMA integrity_check").first?.first?.string, "ok", layout, file: file, line: line)
        XCTAssertEqual(try db.rows("PRAGMA foreign_key_check"), [], layout, file: file, line: line)
    }

    func testEveryLayoutMigratesFullyAndItsToolThenFindsNothingToApply() throws {
        for layout in ["backstop", "drizzle", "diesel", "golang-migrate", "dbmate", "goose", "flyway", "sqlx"] {
            try? FileManager.default.removeItem(atPath: path("app.db"))
            try? FileManager.default.removeItem(atPath: path("app.db.backstop"))
            let result = try migrate(layout, ["--create"])
            try assertFullyMigrated(layout)
            if layout != "backstop" {
                XCTAssertEqual(try toolWouldApply(layout, db: path("app.db")), [], "\(layout) would apply these again at start-up")
                XCTAssertTrue(result.stderr.contains("PRAGMA foreign_keys = OFF is left out"), "\(layout): \(result.stderr)")
            }
            let status = try document(backstop(["status", "--db", "app.db", "--dir", LayoutTests.corpus + "/" + layout, "--json"]
                                               + (layout == "sqlx" ? ["--format", "sqlx"] : [])), schema: "status")
            XCTAssertEqual(status["layout"] as? String, layout)
            XCTAssertEqual((status["pending"] as? [Any])?.count, 0, layout)
            XCTAssertEqual((status["problems"] as? [Any])?.count, 0, "\(layout): \(status)")
        }
    }

    /// A NUL byte in a down (undo) file is refused like one in an up file: SQLite would stop reading the
    /// statement there, so `down` would run less than the file shows. Nothing is applied.
    func testANulByteInADownFileIsRefused() throws {
        for (layout, downFile) in [("golang-migrate", "1_init.down.sql"), ("diesel", "2026-01-01-000001_init/down.sql"), ("flyway", "U1__init.sql")] {
            let folder = path("copy-\(layout)")
            try? FileManager.default.removeItem(atPath: folder)
            try FileManager.default.copyItem(atPath: LayoutTests.corpus + "/" + layout, toPath: folder)
            let down = folder + "/" + downFile
            var bytes = try Data(contentsOf: URL(fileURLWithPath: down))
            bytes.insert(0, at: 4)
            try bytes.write(to: URL(fileURLWithPath: down))
            try? FileManager.default.removeItem(atPath: path("app.db"))
            let result = try backstop(["migrate", "--db", "app.db", "--create", "--dir", folder, "--yes"])
            XCTAssertEqual(result.status, 7, "\(layout): \(result.stderr)")
            XCTAssertTrue(result.stderr.contains("\(down):1: the file holds a NUL byte (byte 4), which would cut the SQL short; remove it"),
                          "\(layout): \(result.stderr)")
            if FileManager.default.fileExists(atPath: path("app.db")) {
                XCTAssertEqual(try Database(path: path("app.db"), mode: .readOnly).scalar("SELECT count(*) FROM sqlite_schema")?.int64, 0,
                               "\(layout): something was applied")
            }
        }
    }

    func testDownAndRollbackKeepBothHistoriesInStep() throws {
        for layout in ["diesel", "golang-migrate", "dbmate", "goose", "flyway", "sqlx"] {
            try? FileManager.default.removeItem(atPath: path("app.db"))
            try? FileManager.default.removeItem(atPath: path("app.db.backstop"))
            let dir = LayoutTests.corpus + "/" + layout
            let format = layout == "sqlx" ? ["--format", "sqlx"] : []
            // Up to the roles migration (third), then down to the first.
            let third = layout == "flyway" ? "2.1" : try toolWouldApply(layout, db: createEmpty())[2]
            _ = try migrate(layout, ["--create", "--to", third])
            XCTAssertEqual(try toolWouldApply(layout, db: path("app.db")).count, layout == "flyway" ? 1 : 1, "\(layout): only cleanup pending")
            let first = layout == "flyway" ? "1" : try toolWouldApply(layout, db: createEmpty(name: "probe.db"))[0]
            let down = try backstop(["down", "--db", "app.db", "--dir", dir, "--to", first, "--yes"] + format)
            XCTAssertEqual(down.status, 0, "\(layout): \(down.stderr)")
            let pending = try toolWouldApply(layout, db: path("app.db"))
            XCTAssertEqual(pending.count, 3, "\(layout): placeholder, roles and cleanup pending again: \(pending)")
            XCTAssertEqual(try Database(path: path("app.db"), mode: .readOnly).int("SELECT count(*) FROM pragma_table_info('users') WHERE name = 'role'"), 0, layout)
            // Then everything, and rollback of that run.
            _ = try migrate(layout)
            try assertFullyMigrated(layout)
            XCTAssertEqual(try toolWouldApply(layout, db: path("app.db")), [], layout)
            let rollback = try backstop(["rollback", "--db", "app.db", "--dir", dir, "--yes", "-q"] + format)
            XCTAssertEqual(rollback.status, 0, "\(layout): \(rollback.stderr)")
            XCTAssertEqual(try toolWouldApply(layout, db: path("app.db")).count, 3, "\(layout): the tool agrees with the restored state")
        }
    }

    /// An empty database file (the tool's start-up check on it lists every migration).
    func createEmpty(name: String = "empty.db") throws -> String {
        if !FileSystem.exists(path(name)) { XCTAssertTrue(FileManager.default.createFile(atPath: path(name), contents: Data())) }
        let db = try Database(path: path(name), mode: .create)
        try db.execute("CREATE TABLE IF NOT EXISTS probe(x)")
        return path(name)
    }

    func testBaselineAdoptsWhatTheToolsOwnHistoryRecords() throws {
        // golang-migrate already brought the database to 3 (emulated: the schema and its history row).
        let dir = LayoutTests.corpus + "/golang-migrate"
        _ = try migrate("golang-migrate", ["--create", "--to", "3"])
        try FileManager.default.removeItem(atPath: path("app.db.backstop"))
        try execute(path("app.db"), "DROP TABLE backstop_migrations")
        let status = try backstop(["status", "--db", "app.db", "--dir", dir])
        XCTAssertTrue(status.stdout.contains("Applied by golang-migrate only: 3 (1_init, 2_placeholder, 3_roles)"), status.stdout)
        let baseline = try backstop(["baseline", "--db", "app.db", "--dir", dir])
        XCTAssertEqual(baseline.status, 0, baseline.stderr)
        XCTAssertEqual(baseline.stdout, "Recorded 3 migrations as applied (baseline 3) in \(path("app.db")); nothing was run.\n")
        _ = try migrate("golang-migrate")
        try assertFullyMigrated("golang-migrate")
        XCTAssertEqual(try toolWouldApply("golang-migrate", db: path("app.db")), [])
    }

    func testTheLayoutIsDetectedAndCanBeForced() throws {
        for (layout, expected) in [("drizzle", "drizzle"), ("diesel", "diesel"), ("golang-migrate", "golang-migrate"), ("dbmate", "dbmate"),
                                   ("goose", "goose"), ("flyway", "flyway"), ("backstop", "backstop")] {
            XCTAssertEqual(MigrationLayout.detect(folder: LayoutTests.corpus + "/" + layout).rawValue, expected)
        }
        // sqlx and golang-migrate name reversible files alike: the database's table, or --format, decides.
        XCTAssertEqual(MigrationLayout.detect(folder: LayoutTests.corpus + "/sqlx"), .golangMigrate)
        XCTAssertEqual(MigrationLayout.detect(folder: LayoutTests.corpus + "/sqlx", databaseTables: ["_sqlx_migrations"]), .sqlx)
    }
}
