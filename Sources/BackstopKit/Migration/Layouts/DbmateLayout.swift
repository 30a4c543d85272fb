import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// dbmate's folder: `VERSION_name.sql` with a `-- migrate:up` section and an optional `-- migrate:down`
/// (either may say `transaction:false`). dbmate records applied versions in `schema_migrations(version)`.
enum DbmateLayout {
    static func load(_ folder: String) -> LoadedMigrations {
        LayoutSupport.loadVersionedSQLFiles(folder, tool: "dbmate") { name, path, parsed, text in
            var problems: [String] = []
            let sections = MarkedSections.split(text, path: path, initial: "preamble", problems: &problems) { comment in
                guard comment.hasPrefix("migrate:") else { return nil }
                let words = comment.dropFirst("migrate:".count).split(separator: " ")
                guard let section = words.first, ["up", "down"].contains(String(section)) else {
                    return .invalid("unknown dbmate marker '-- \(comment)'; expected migrate:up or migrate:down")
                }
                return .section(String(section))
            }
            if !sections.seen.contains("up") { problems.append("\(path): no '-- migrate:up' section") }
            guard problems.isEmpty else { throw MigrationFileProblems(path: path, messages: problems) }
            var file = try LayoutSupport.file(
                layout: .dbmate, version: parsed.version, versionText: parsed.text, name: parsed.name, fileName: name, path: path,
                upText: "", downText: nil, checksumText: text, upStatements: sections.statements["up"] ?? [],
                downStatements: sections.seen.contains("down") ? sections.statements["down"] ?? [] : nil,
                tool: ToolRecordInfo(description: parsed.name))
            if (sections.markerOptions["up"] ?? "").contains("transaction:false") {
                file.markedNonTransactional = true
                file.notes.append("\(name): transaction:false: Backstop still runs it inside the run's single transaction")
            }
            return file
        }
    }
}

/// goose's folder: `VERSION_name.sql` with `-- +goose Up` and `-- +goose Down`, multi-statement blocks
/// between `-- +goose StatementBegin` and `-- +goose StatementEnd`, and `-- +goose NO TRANSACTION`.
/// goose records each applied version as a row of `goose_db_version` (and version 0 when it creates the
/// table), and at start-up runs the versions above the newest applied one.
enum GooseLayout {
    static func load(_ folder: String) -> LoadedMigrations {
        LayoutSupport.loadVersionedSQLFiles(folder, tool: "goose") { name, path, parsed, text in
            let parsedSections = try sections(text, path: path)
            var file = try LayoutSupport.file(
                layout: .goose, version: parsed.version, versionText: parsed.text, name: parsed.name, fileName: name, path: path,
                upText: "", downText: nil, checksumText: text, upStatements: parsedSections.up, downStatements: parsedSections.down,
                tool: ToolRecordInfo(description: parsed.name))
            if parsedSections.noTransaction {
                file.markedNonTransactional = true
                file.notes.append("\(name): +goose NO TRANSACTION: Backstop still runs it inside the run's single transaction")
            }
            return file
        }
    }

    /// The Up and Down statements of a goose file: split as SQLite sees statements, except that each
    /// StatementBegin ... StatementEnd block is one statement.
    static func sections(_ text: String, path: String) throws -> (up: [SQLStatement], down: [SQLStatement]?, noTransaction: Bool) {
        var up: [SQLStatement] = [], down: [SQLStatement]? = nil
        var current: String? = nil
        var noTransaction = false
        var buffer = "", bufferLine = 1, inBlock = false
        var problems: [String] = []
        let inCode = SQLScript.linesStartingInCode(text)
        func flush(asOne: Bool) {
            let statements = asOne
                ? (SQLScript.isBlank(buffer) ? [] : [SQLStatement(sql: buffer.trimmingCharacters(in: .whitespacesAndNewlines), line: bufferLine)])
                : SQLScript.split(buffer, firstLine: bufferLine)
            if current == "up" { up += statements } else if current == "down" { down = (down ?? []) + statements }
            buffer = ""
        }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if index < inCode.count, inCode[index] || inBlock, trimmed.lowercased().hasPrefix("-- +goose") {
                let annotation = trimmed.dropFirst("-- +goose".count).trimmingCharacters(in: .whitespaces).lowercased()
                switch annotation {
                case "up", "down":
                    flush(asOne: false)
                    current = annotation
                    if annotation == "down" && down == nil { down = [] }
                case "statementbegin":
                    flush(asOne: false)
                    inBlock = true
                case "statementend":
                    flush(asOne: true)
                    inBlock = false
                case "no transaction":
                    noTransaction = true
                case let other where other.hasPrefix("envsub"):
                    break
                default:
                    problems.append("\(path):\(index + 1): unknown goose annotation '\(trimmed)'")
                }
                bufferLine = index + 2
                continue
            }
            if buffer.isEmpty { bufferLine = index + 1 }
            buffer += line + "\n"
        }
        flush(asOne: inBlock)
        if !text.lowercased().contains("-- +goose up") { problems.append("\(path): no '-- +goose Up' annotation") }
        if inBlock { problems.append("\(path): a '-- +goose StatementBegin' has no StatementEnd") }
        guard problems.isEmpty else { throw MigrationFileProblems(path: path, messages: problems) }
        return (up, down, noTransaction)
    }
}
