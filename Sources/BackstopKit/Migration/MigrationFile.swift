import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// One migration: `NNNN_name.sql`, with its sections.
///
/// Sections are introduced by comment markers on their own line; text before any marker is forward SQL:
/// - `-- backstop:up` forward SQL
/// - `-- backstop:require` queries that must each return no rows before the migration runs
/// - `-- backstop:verify` queries that must each return no rows after it ran
/// - `-- backstop:down` optional reverse SQL
public struct MigrationFile: Equatable, Sendable {
    public enum Section: String, CaseIterable, Sendable { case up, require, verify, down }

    public var version: Int64
    public var name: String
    public var fileName: String
    public var path: String
    /// SHA-256 of the file with line endings normalized (CRLF and LF count the same).
    public var checksum: String
    public var up: [SQLStatement]
    public var require: [SQLStatement]
    public var verify: [SQLStatement]
    public var down: [SQLStatement]?

    /// True when the file has down SQL (a section of only comments undoes nothing: it is no down).
    public var hasDown: Bool { !(down ?? []).isEmpty }
    public var displayName: String { (fileName as NSString).deletingPathExtension }

    /// `0028_populate_provider_configs.sql` -> (28, "populate_provider_configs"), or nil for other names.
    public static func parseName(_ fileName: String) -> (version: Int64, name: String)? {
        guard fileName.hasSuffix(".sql") else { return nil }
        let stem = fileName.dropLast(4)
        let digits = stem.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 18, let version = Int64(digits) else { return nil }
        var rest = stem.dropFirst(digits.count)
        guard rest.first == "_" || rest.first == "-" else { return nil }
        rest = rest.dropFirst()
        guard !rest.isEmpty else { return nil }
        return (version, String(rest))
    }

    /// The file's text with line endings normalized (a CRLF checkout checksums the same as an LF one) and
    /// a UTF-8 byte order mark dropped (it would hide the first `-- backstop:` marker).
    public static func normalizedText(_ data: Data) -> String {
        var bytes = data
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes = bytes.dropFirst(3) }
        return String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    /// Refuses text SQLite would read differently from a person: a NUL byte ends a statement for SQLite
    /// (`DELETE FROM t<NUL> WHERE ...` runs as `DELETE FROM t`).
    static func refuseNUL(_ data: Data, path: String) throws {
        if let index = data.firstIndex(of: 0) {
            let line = data[data.startIndex..<index].filter { $0 == UInt8(ascii: "\n") }.count + 1
            throw BackstopError.invalidInput("\(path):\(line): the file holds a NUL byte (byte \(index - data.startIndex)), which would cut the SQL short; remove it")
        }
    }

    public static func load(path: String) throws -> MigrationFile {
        let fileName = (path as NSString).lastPathComponent
        guard let (version, name) = parseName(fileName) else {
            throw BackstopError.invalidInput("\(path): a migration's name must be NNNN_name.sql")
        }
        guard let data = try? FileSystem.readSmallFile(path, limit: 64 << 20) else {
            throw BackstopError.invalidInput("cannot read \(path)")
        }
        try refuseNUL(data, path: path)
        let text = normalizedText(data)
        let checksum = SHA256Hasher.hex(of: Data(text.utf8))
        var chunks: [Section: [SQLStatement]] = [:]
        var current = Section.up
        var buffer = ""
        var bufferLine = 1
        var seen: Set<Section> = []
        func close() {
            chunks[current, default: []] += SQLScript.split(buffer, firstLine: bufferLine)
        }
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.hasPrefix("--") {
                let comment = trimmed.dropFirst(2).trimmingCharacters(in: .whitespaces)
                if comment.lowercased().hasPrefix("backstop:") {
                    let marker = comment.dropFirst("backstop:".count).trimmingCharacters(in: .whitespaces).lowercased()
                    guard let section = Section(rawValue: marker) else {
                        throw BackstopError.invalidInput("\(path):\(index + 1): unknown section marker '-- backstop:\(marker)'; expected up, require, verify or down")
                    }
                    if seen.contains(section) {
                        throw BackstopError.invalidInput("\(path):\(index + 1): the section '\(marker)' appears twice")
                    }
                    close()
                    seen.insert(section)
                    current = section
                    buffer = ""
                    bufferLine = index + 2
                    continue
                }
            }
            buffer += line + "\n"
        }
        close()
        for statement in chunks.values.joined() {
            if let reason = SQLScript.forbiddenReason(statement.sql) {
                throw BackstopError.invalidInput("\(path):\(statement.line): \(reason)")
            }
        }
        let file = MigrationFile(
            version: version, name: name, fileName: fileName, path: path, checksum: checksum,
            up: chunks[.up] ?? [], require: chunks[.require] ?? [], verify: chunks[.verify] ?? [],
            down: seen.contains(.down) ? chunks[.down] ?? [] : nil)
        if file.up.isEmpty && file.require.isEmpty && file.verify.isEmpty {
            throw BackstopError.invalidInput("\(path): the migration holds no SQL")
        }
        return file
    }
}
