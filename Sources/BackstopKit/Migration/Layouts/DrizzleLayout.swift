import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// drizzle-kit's folder: `meta/_journal.json` lists the migrations (`tag`, `when`), each in `<tag>.sql`
/// with statements separated by `--> statement-breakpoint`. drizzle records each applied migration in
/// `__drizzle_migrations` with the SHA-256 of the file and the journal's `when` as `created_at`, and at
/// start-up runs every migration whose `when` is later than the newest `created_at`.
enum DrizzleLayout {
    struct Journal: Decodable {
        struct Entry: Decodable {
            var idx: Int
            var when: Int64
            var tag: String
            var breakpoints: Bool?
        }
        var entries: [Entry]
    }

    static let breakpoint = "--> statement-breakpoint"

    static func load(_ folder: String) throws -> LoadedMigrations {
        var loaded = LoadedMigrations()
        let journalPath = (folder as NSString).appendingPathComponent("meta/_journal.json")
        let journal: Journal
        do {
            journal = try JSONDecoder().decode(Journal.self, from: try FileSystem.readSmallFile(journalPath, limit: 16 << 20))
        } catch {
            loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: "meta/_journal.json",
                                                    message: "\(journalPath) cannot be read as drizzle's journal: \(error)"))
            return loaded
        }
        var listed: Set<String> = []
        for entry in journal.entries {
            let fileName = entry.tag + ".sql"
            listed.insert(fileName)
            let path = (folder as NSString).appendingPathComponent(fileName)
            let version = Int64(entry.idx)
            do {
                let data = try MigrationFile.readRefusingNUL(path)
                let raw = String(decoding: data, as: UTF8.self)
                let text = MigrationFile.normalizedText(data)
                // Statements between breakpoints; each piece is split further the way SQLite sees statements.
                var statements: [SQLStatement] = []
                var line = 1
                for piece in text.components(separatedBy: breakpoint) {
                    statements += SQLScript.split(piece, firstLine: line)
                    line += piece.filter { $0 == "\n" }.count
                }
                let name = String(entry.tag.drop { $0.isNumber }.drop { $0 == "_" })
                loaded.files.append(try LayoutSupport.file(
                    layout: .drizzle, version: version, versionText: String(entry.tag.prefix { $0.isNumber }), name: name,
                    fileName: fileName, path: path, upText: text, downText: nil, checksumText: text, upStatements: statements,
                    tool: ToolRecordInfo(description: name, createdAt: entry.when, sha256Hex: SHA256Hasher.hex(of: Data(raw.utf8)))))
            } catch {
                loaded.invalid(fileName, version: version, error)
            }
        }
        for name in ((try? FileSystem.listDirectory(folder)) ?? []).sorted() where name.hasSuffix(".sql") && !listed.contains(name)
            && name != MigrationDirectory.guardFileName {
            loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: name,
                                                    message: "\(name) is not in meta/_journal.json, so drizzle never runs it"))
        }
        return loaded
    }
}
