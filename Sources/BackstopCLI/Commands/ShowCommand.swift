import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct ShowCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one snapshot's manifest.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: ArgumentHelp("The snapshot id (or a unique prefix of at least 8 characters).", valueName: "id"))
        var id: String

        func run(_ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: false)
            let store = try session.openStore(resolved, create: false)
            let manifest = try store.snapshot(id: id)
            let identity = SnapshotStore.identity(of: manifest.database, aliases: try store.aliases())
            let json = SnapshotJSON(manifest, databaseNow: identity)
            if output.json { output.emit(ShowJSON(snapshot: json, dataFile: store.dataPath(manifest))); return }
            let m = manifest
            let check = m.check.map { check -> String in
                var words = "\(check.method): \(Words.check(check))"
                if !check.problems.isEmpty { words += " (\(check.problems.joined(separator: "; ")))" }
                if !check.notChecked.isEmpty { words += "; not checked: \(check.notChecked.joined(separator: "; "))" }
                return words
            } ?? "-"
            let fields: [(String, String)] = [
                ("id", m.id), ("sequence", m.sequence.map(String.init) ?? "-"),
                ("created_at", m.createdAt + (m.isFutureDated() ? " (in the future: the clock was wrong)" : "")),
                ("kind", m.kind.rawValue), ("label", m.label ?? "-"), ("database", m.database),
                ("database_now", identity), ("file", m.file), ("db_bytes", "\(m.dbBytes) (\(ByteCount.format(m.dbBytes)))"),
                ("compressed_bytes", "\(m.compressedBytes) (\(ByteCount.format(m.compressedBytes)))"),
                ("sha256", m.sha256), ("compressed_sha256", m.compressedSha256), ("page_size", String(m.pageSize)),
                ("page_count", String(m.pageCount)), ("schema_version", m.schemaVersion.map(String.init) ?? "-"),
                ("app_migrations", m.appMigrations.map(AppWords.state) ?? "-"), ("command", m.command ?? "-"),
                ("check", check), ("journal_mode", m.journalMode.rawValue), ("compression_level", String(m.compressionLevel)),
                ("pinned", m.pinned ? "yes" : "no"), ("pin_note", m.pinNote ?? "-"),
                ("migrations", m.migrations.map { $0.map(String.init).joined(separator: ", ") } ?? "-"),
                ("sqlite_version", m.sqliteVersion), ("tool_version", m.toolVersion), ("duration_ms", String(m.durationMs)),
                ("encryption", m.encryption.map { "age, to \($0.recipients.joined(separator: ", "))" } ?? "none"),
                ("gzip_bytes", m.encryption.map { "\($0.gzipBytes) (\(ByteCount.format($0.gzipBytes)))" } ?? "-"),
                ("gzip_sha256", m.encryption?.gzipSha256 ?? "-"),
                ("format", m.format), ("data_file", store.dataPath(m)),
            ]
            let width = fields.map(\.0.count).max() ?? 0
            for (key, value) in fields {
                output.say("\(raw: key.padding(toLength: width, withPad: " ", startingAt: 0))  \(value)")
            }
        }
    }
}
