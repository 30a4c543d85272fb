import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// The migration folder layouts Backstop reads in place: its own, and those of the migrators apps
/// already use. For another tool's layout, every migration Backstop applies (or undoes) also gets that
/// tool's own history row, in the same transaction, exactly as the tool writes it, so that the tool sees
/// it applied and does nothing at the app's next start-up.
public enum MigrationLayout: String, CaseIterable, Sendable, Codable {
    /// `NNNN_name.sql` with `-- backstop:` sections.
    case backstop
    /// drizzle-kit: `NNNN_tag.sql` split by `--> statement-breakpoint`, listed in `meta/_journal.json`.
    case drizzle
    /// diesel: `<version>_<name>/up.sql` and `down.sql`.
    case diesel
    /// golang-migrate: `N_name.up.sql` and `N_name.down.sql`.
    case golangMigrate = "golang-migrate"
    /// dbmate: `VERSION_name.sql` with `-- migrate:up` and `-- migrate:down`.
    case dbmate
    /// goose: `VERSION_name.sql` with `-- +goose Up` and `-- +goose Down`.
    case goose
    /// Flyway: `V<version>__name.sql`, `U<version>__name.sql` (undo), `R__name.sql` (repeatable).
    case flyway
    /// sqlx: `VERSION_name.sql`, or `VERSION_name.up.sql` and `.down.sql`.
    case sqlx

    /// The tool's history table.
    public var historyTable: String? {
        switch self {
        case .backstop: return nil
        case .drizzle: return "__drizzle_migrations"
        case .diesel: return "__diesel_schema_migrations"
        case .golangMigrate, .dbmate: return "schema_migrations"
        case .goose: return "goose_db_version"
        case .flyway: return "flyway_schema_history"
        case .sqlx: return "_sqlx_migrations"
        }
    }

    /// Works out a folder's layout from its files (and, where two layouts name files alike, from the
    /// tool's table in the database). Backstop's own layout when nothing else matches.
    public static func detect(folder: String, databaseTables: Set<String> = []) -> MigrationLayout {
        let names = (try? FileSystem.listDirectory(folder)) ?? []
        if FileSystem.exists((folder as NSString).appendingPathComponent("meta/_journal.json")) { return .drizzle }
        if names.contains(where: { FileSystem.exists((folder as NSString).appendingPathComponent("\($0)/up.sql")) }) { return .diesel }
        if names.contains(where: { FlywayLayout.parse($0) != nil }) { return .flyway }
        let sqlFiles = names.filter { $0.hasSuffix(".sql") }
        if sqlFiles.contains(where: { $0.hasSuffix(".up.sql") || $0.hasSuffix(".down.sql") }) {
            // golang-migrate and sqlx name reversible migrations alike: the database says which tool ran
            // them, or the project around the folder (a Rust crate, or a Go module).
            if databaseTables.contains("_sqlx_migrations") { return .sqlx }
            if databaseTables.contains("schema_migrations") { return .golangMigrate }
            var project = (folder as NSString).deletingLastPathComponent
            for _ in 0..<3 {
                if FileSystem.exists((project as NSString).appendingPathComponent("Cargo.toml")) { return .sqlx }
                if FileSystem.exists((project as NSString).appendingPathComponent("go.mod")) { return .golangMigrate }
                project = (project as NSString).deletingLastPathComponent
            }
            return .golangMigrate
        }
        // Markers in the files' first lines.
        for name in sqlFiles.sorted().prefix(20) {
            guard let data = try? FileSystem.readSmallFile((folder as NSString).appendingPathComponent(name), limit: 64 << 20) else { continue }
            let text = MigrationFile.normalizedText(data)
            if text.range(of: "-- migrate:up") != nil { return .dbmate }
            if text.range(of: "-- +goose Up", options: .caseInsensitive) != nil { return .goose }
        }
        if databaseTables.contains("_sqlx_migrations") && !databaseTables.contains(MigrationHistory.table) { return .sqlx }
        return .backstop
    }

    /// Loads the folder in this layout: the migrations, and one problem per thing wrong (every problem of
    /// a file at once).
    func load(folder: String) throws -> LoadedMigrations {
        switch self {
        case .backstop: return BackstopLayout.load(folder)
        case .drizzle: return try DrizzleLayout.load(folder)
        case .diesel: return DieselLayout.load(folder)
        case .golangMigrate: return UpDownFilesLayout.load(folder, layout: .golangMigrate)
        case .sqlx: return SqlxLayout.load(folder)
        case .dbmate: return DbmateLayout.load(folder)
        case .goose: return GooseLayout.load(folder)
        case .flyway: return FlywayLayout.load(folder)
        }
    }
}

/// What a layout's loader found.
struct LoadedMigrations {
    var files: [MigrationFile] = []
    var problems: [MigrationProblem] = []
    /// Flyway's repeatable migrations (`R__name.sql`), run after the versioned ones when they changed.
    var repeatables: [MigrationFile] = []

    mutating func invalid(_ file: String, version: Int64?, _ error: Error) {
        let messages = (error as? MigrationFileProblems)?.messages ?? ["\(error)"]
        for message in messages {
            problems.append(MigrationProblem(kind: .invalid, version: version, file: file, message: message))
        }
    }
}

/// Backstop's own layout.
enum BackstopLayout {
    static func load(_ folder: String) -> LoadedMigrations {
        var loaded = LoadedMigrations()
        for name in ((try? FileSystem.listDirectory(folder)) ?? []).sorted() where name.hasSuffix(".sql") && !name.hasPrefix(".") {
            if name == MigrationDirectory.guardFileName { continue }
            guard let parsed = MigrationFile.parseName(name) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: name,
                                                        message: "\(name) is not named like a migration (NNNN_name.sql), so it would never run"))
                continue
            }
            do {
                loaded.files.append(try MigrationFile.load(path: (folder as NSString).appendingPathComponent(name)))
            } catch {
                loaded.invalid(name, version: parsed.version, error)
            }
        }
        return loaded
    }
}

/// Helpers shared by the other tools' layouts.
enum LayoutSupport {
    /// A migration whose forward and reverse SQL are given as text.
    static func file(layout: MigrationLayout, version: Int64, versionText: String, name: String, fileName: String, path: String,
                     upText: String, downText: String?, checksumText: String, upStatements: [SQLStatement]? = nil,
                     downStatements: [SQLStatement]? = nil, tool: ToolRecordInfo? = nil) throws -> MigrationFile {
        var problems: [String] = []
        let prepared = MigrationSQL.prepare(upStatements ?? SQLScript.split(upText), path: path)
        problems += prepared.problems
        let down = downStatements ?? downText.map { SQLScript.split($0) }
        let preparedDown = down.map { MigrationSQL.prepare($0, path: path) }
        problems += preparedDown?.problems ?? []
        guard problems.isEmpty else { throw MigrationFileProblems(path: path, messages: problems) }
        var file = MigrationFile(version: version, name: name, fileName: fileName, path: path,
                                 checksum: SHA256Hasher.hex(of: Data(checksumText.utf8)), up: prepared.statements, require: [], verify: [],
                                 down: preparedDown?.statements)
        file.layout = layout
        file.versionText = versionText
        file.enforceForeignKeys = prepared.enforceForeignKeys
        file.notes = prepared.notes + (preparedDown?.notes ?? [])
        file.tool = tool
        if file.up.isEmpty { file.notes.append("\(fileName) holds no SQL: it runs as a no-op (a placeholder)") }
        return file
    }

    /// Loads every `VERSION_name.sql` of a folder (but guard.sql) in name order, each through `make`, given
    /// its name, path, parsed version and normalized text. A file named otherwise, or one `make` throws for,
    /// is a problem of its own; the others still load.
    static func loadVersionedSQLFiles(_ folder: String, tool: String,
                                      _ make: (_ name: String, _ path: String, _ parsed: (text: String, version: Int64, name: String),
                                               _ text: String) throws -> MigrationFile) -> LoadedMigrations {
        var loaded = LoadedMigrations()
        for name in ((try? FileSystem.listDirectory(folder)) ?? []).sorted() where name.hasSuffix(".sql") && !name.hasPrefix(".")
            && name != MigrationDirectory.guardFileName {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let parsed = versionAndName(name.dropLast(4)) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: name,
                                                        message: "\(name) is not named like a \(tool) migration (VERSION_name.sql), so it would never run"))
                continue
            }
            do {
                loaded.files.append(try make(name, path, parsed, MigrationFile.normalizedText(try MigrationFile.readRefusingNUL(path))))
            } catch {
                loaded.invalid(name, version: parsed.version, error)
            }
        }
        return loaded
    }

    /// `20260101120000_create_users` -> ("20260101120000", 20260101120000, "create_users").
    static func versionAndName(_ stem: Substring) -> (text: String, version: Int64, name: String)? {
        let digits = stem.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 18, let version = Int64(digits) else { return nil }
        let rest = stem.dropFirst(digits.count)
        guard rest.first == "_" else { return rest.isEmpty ? (String(digits), version, "") : nil }
        return (String(digits), version, String(rest.dropFirst()))
    }
}
