import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// diesel's folder: one folder per migration, `<version>_<name>/up.sql` and `down.sql` (the version is
/// the part before the first `_`, dashes removed: `2026-01-15-093000_add_users` is 20260115093000).
/// diesel records applied versions in `__diesel_schema_migrations` and at start-up runs every migration
/// whose version is not there.
enum DieselLayout {
    static func load(_ folder: String) -> LoadedMigrations {
        var loaded = LoadedMigrations()
        for entry in ((try? FileSystem.listDirectory(folder)) ?? []).sorted() where !entry.hasPrefix(".") {
            let directory = (folder as NSString).appendingPathComponent(entry)
            guard FileSystem.isDirectory(directory) else { continue }
            let upPath = (directory as NSString).appendingPathComponent("up.sql")
            guard let underscore = entry.firstIndex(of: "_") else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: entry,
                                                        message: "\(entry) is not named like a diesel migration (<version>_<name>)"))
                continue
            }
            let versionText = entry[..<underscore].replacingOccurrences(of: "-", with: "")
            guard !versionText.isEmpty, versionText.count <= 18, versionText.allSatisfy({ $0.isASCII && $0.isNumber }),
                  let version = Int64(versionText) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: entry,
                                                        message: "\(entry): Backstop orders diesel migrations by a numeric version (a timestamp such as 2026-01-15-093000)"))
                continue
            }
            guard FileSystem.exists(upPath) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: version, file: entry, message: "\(entry) has no up.sql"))
                continue
            }
            do {
                let up = try MigrationFile.readRefusingNUL(upPath)
                let downPath = (directory as NSString).appendingPathComponent("down.sql")
                let down = FileSystem.exists(downPath) ? try MigrationFile.readRefusingNUL(downPath) : nil
                let upText = MigrationFile.normalizedText(up)
                let downText = down.map(MigrationFile.normalizedText)
                var file = try LayoutSupport.file(
                    layout: .diesel, version: version, versionText: versionText, name: String(entry[entry.index(after: underscore)...]),
                    fileName: entry, path: upPath, upText: upText, downText: downText, checksumText: upText,
                    tool: ToolRecordInfo(description: String(entry[entry.index(after: underscore)...])))
                let metadata = (directory as NSString).appendingPathComponent("metadata.toml")
                if let data = try? FileSystem.readSmallFile(metadata, limit: 1 << 20),
                   String(decoding: data, as: UTF8.self).replacingOccurrences(of: " ", with: "").contains("run_in_transaction=false") {
                    file.markedNonTransactional = true
                    file.notes.append("\(entry): run_in_transaction = false: Backstop still runs it inside the run's single transaction")
                }
                loaded.files.append(file)
            } catch {
                loaded.invalid(entry, version: version, error)
            }
        }
        return loaded
    }
}
