import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// golang-migrate's folder: `N_name.up.sql` and `N_name.down.sql`. golang-migrate keeps one row in
/// `schema_migrations(version, dirty)`: the current version, every migration at or below it applied.
enum UpDownFilesLayout {
    /// `3_add_users.up.sql` -> (3, "add_users", up: true).
    static func parse(_ name: String) -> (text: String, version: Int64, name: String, up: Bool)? {
        let up = name.hasSuffix(".up.sql"), down = name.hasSuffix(".down.sql")
        guard up || down else { return nil }
        let stem = name.dropLast(up ? 7 : 9)
        guard let parsed = LayoutSupport.versionAndName(stem) else { return nil }
        return (parsed.text, parsed.version, parsed.name, up)
    }

    static func load(_ folder: String, layout: MigrationLayout) -> LoadedMigrations {
        var loaded = LoadedMigrations()
        let names = ((try? FileSystem.listDirectory(folder)) ?? []).sorted().filter { $0.hasSuffix(".sql") && !$0.hasPrefix(".") }
        var ups: [Int64: (String, String, String)] = [:], downs: [Int64: String] = [:]
        for name in names where name != MigrationDirectory.guardFileName {
            guard let parsed = parse(name) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: name,
                                                        message: "\(name) is not named like a \(layout.rawValue) migration (N_name.up.sql or N_name.down.sql), so it would never run"))
                continue
            }
            if parsed.up {
                if let other = ups[parsed.version] {
                    loaded.problems.append(MigrationProblem(kind: .duplicateVersion, version: parsed.version, file: "\(other.2), \(name)",
                                                            message: "2 files share version \(parsed.version): \(other.2), \(name) (renumber one of them)"))
                }
                ups[parsed.version] = (parsed.text, parsed.name, name)
            } else {
                downs[parsed.version] = name
            }
        }
        for (version, (text, migrationName, fileName)) in ups.sorted(by: { $0.key < $1.key }) {
            let path = (folder as NSString).appendingPathComponent(fileName)
            do {
                let up = try MigrationFile.readRefusingNUL(path)
                let downData = try downs[version].map { try MigrationFile.readRefusingNUL((folder as NSString).appendingPathComponent($0)) }
                let upText = MigrationFile.normalizedText(up)
                var file = try LayoutSupport.file(
                    layout: layout, version: version, versionText: text, name: migrationName, fileName: fileName, path: path,
                    upText: upText, downText: downData.map(MigrationFile.normalizedText), checksumText: upText,
                    tool: ToolRecordInfo(description: migrationName.replacingOccurrences(of: "_", with: " "),
                                         sha384: layout == .sqlx ? Digests.sha384(up) : nil))
                if layout == .sqlx, upText.hasPrefix("-- no-transaction") {
                    file.markedNonTransactional = true
                    file.notes.append("\(fileName): -- no-transaction: Backstop still runs it inside the run's single transaction")
                }
                loaded.files.append(file)
            } catch {
                loaded.invalid(fileName, version: version, error)
            }
        }
        for (version, name) in downs where ups[version] == nil {
            loaded.problems.append(MigrationProblem(kind: .invalid, version: version, file: name, message: "\(name) has no up migration"))
        }
        return loaded
    }
}

/// sqlx's folder: `VERSION_name.sql` (simple), or `VERSION_name.up.sql` and `.down.sql` (reversible).
/// sqlx records each applied migration in `_sqlx_migrations` with the SHA-384 of its up file, and at
/// start-up refuses a changed one and runs those not there.
enum SqlxLayout {
    static func load(_ folder: String) -> LoadedMigrations {
        let names = ((try? FileSystem.listDirectory(folder)) ?? []).filter { $0.hasSuffix(".sql") }
        if names.contains(where: { $0.hasSuffix(".up.sql") }) { return UpDownFilesLayout.load(folder, layout: .sqlx) }
        var loaded = LoadedMigrations()
        for name in names.sorted() where !name.hasPrefix(".") && name != MigrationDirectory.guardFileName {
            let path = (folder as NSString).appendingPathComponent(name)
            guard let parsed = LayoutSupport.versionAndName(name.dropLast(4)) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: name,
                                                        message: "\(name) is not named like a sqlx migration (VERSION_name.sql), so it would never run"))
                continue
            }
            do {
                let data = try MigrationFile.readRefusingNUL(path)
                let text = MigrationFile.normalizedText(data)
                var file = try LayoutSupport.file(
                    layout: .sqlx, version: parsed.version, versionText: parsed.text, name: parsed.name, fileName: name, path: path,
                    upText: text, downText: nil, checksumText: text,
                    tool: ToolRecordInfo(description: parsed.name.replacingOccurrences(of: "_", with: " "), sha384: Digests.sha384(data)))
                if text.hasPrefix("-- no-transaction") {
                    file.markedNonTransactional = true
                    file.notes.append("\(name): -- no-transaction: Backstop still runs it inside the run's single transaction")
                }
                loaded.files.append(file)
            } catch {
                loaded.invalid(name, version: parsed.version, error)
            }
        }
        return loaded
    }
}
