import BackstopCodec
import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// Flyway's folder: `V<version>__<description>.sql` (versions such as `1`, `1.1` or `2_3`),
/// `U<version>__<description>.sql` (undo) and `R__<description>.sql` (repeatable, run again whenever it
/// changes). Flyway records each in `flyway_schema_history` with the CRC-32 of the file's lines.
enum FlywayLayout {
    enum Kind { case versioned, undo, repeatable }

    /// `V1_1__add_users.sql` -> (.versioned, "1.1", "add users").
    static func parse(_ name: String) -> (kind: Kind, version: String?, description: String)? {
        guard name.hasSuffix(".sql"), let separator = name.range(of: "__") else { return nil }
        let prefix = name[..<separator.lowerBound]
        let description = String(name[separator.upperBound...].dropLast(4)).replacingOccurrences(of: "_", with: " ")
        guard let first = prefix.first else { return nil }
        switch first {
        case "R" where prefix.count == 1: return (.repeatable, nil, description)
        case "V", "U":
            let version = prefix.dropFirst().replacingOccurrences(of: "_", with: ".")
            guard !version.isEmpty, version.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } })
            else { return nil }
            return (first == "V" ? .versioned : .undo, version, description)
        default: return nil
        }
    }

    /// Flyway's checksum: CRC-32 over each line's UTF-8 bytes, without line endings (a byte order mark
    /// dropped), as a signed 32-bit integer.
    static func checksum(_ data: Data) -> Int32 {
        var bytes = Array(data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        var crc = Digests.CRC32()
        var line: [UInt8] = []
        var i = 0
        while i < bytes.count {
            let b = bytes[i]
            if b == UInt8(ascii: "\n") || b == UInt8(ascii: "\r") {
                crc.update(line)
                line.removeAll(keepingCapacity: true)
                if b == UInt8(ascii: "\r"), i + 1 < bytes.count, bytes[i + 1] == UInt8(ascii: "\n") { i += 1 }
            } else {
                line.append(b)
            }
            i += 1
        }
        if !line.isEmpty { crc.update(line) }
        return Int32(bitPattern: crc.value)
    }

    /// Versions as Backstop orders them: one number as is; dotted versions packed 16 bits a part (up to
    /// four parts) so that 1.1 comes before 1.2 and 2. A folder that mixes dotted and plain versions has all
    /// of them packed.
    static func orderKeys(_ versions: [String]) -> [String: Int64]? {
        let parts = versions.map { $0.split(separator: ".").map { Int64($0) ?? -1 } }
        if parts.allSatisfy({ $0.count == 1 && $0[0] >= 0 }) {
            return Dictionary(uniqueKeysWithValues: zip(versions, parts.map { $0[0] }))
        }
        guard parts.allSatisfy({ $0.count <= 4 && $0.allSatisfy { $0 >= 0 && $0 < 65536 } && $0[0] < 32768 }) else { return nil }
        return Dictionary(uniqueKeysWithValues: zip(versions, parts.map { p in
            (0..<4).reduce(Int64(0)) { key, i in (key << 16) | (i < p.count ? p[i] : 0) }
        }))
    }

    static func load(_ folder: String) -> LoadedMigrations {
        var loaded = LoadedMigrations()
        let names = ((try? FileSystem.listDirectory(folder)) ?? []).sorted().filter { $0.hasSuffix(".sql") && !$0.hasPrefix(".") && $0 != MigrationDirectory.guardFileName }
        var parsed: [(name: String, kind: Kind, version: String?, description: String)] = []
        for name in names {
            guard let p = parse(name) else {
                loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: name,
                                                        message: "\(name) is not named like a Flyway migration (V<version>__name.sql, U<version>__name.sql or R__name.sql), so it would never run"))
                continue
            }
            parsed.append((name, p.kind, p.version, p.description))
        }
        guard let keys = orderKeys(Array(Set(parsed.compactMap(\.version)))) else {
            loaded.problems.append(MigrationProblem(kind: .invalid, version: nil, file: nil,
                                                    message: "Backstop orders Flyway versions of up to four parts below 65536 (1, 1.2, 2.0.3); this folder has others"))
            return loaded
        }
        let undos = Dictionary(parsed.filter { $0.kind == .undo }.map { ($0.version!, $0.name) }, uniquingKeysWith: { a, _ in a })
        for item in parsed where item.kind != .undo {
            let path = (folder as NSString).appendingPathComponent(item.name)
            let key = item.version.flatMap { keys[$0] }
            do {
                let data = try MigrationFile.readRefusingNUL(path)
                let text = MigrationFile.normalizedText(data)
                let undoName = item.version.flatMap { undos[$0] }
                let undo = try undoName.map { try MigrationFile.readRefusingNUL((folder as NSString).appendingPathComponent($0)) }
                let file = try LayoutSupport.file(
                    layout: .flyway, version: key ?? 0, versionText: item.version ?? "", name: item.description, fileName: item.name,
                    path: path, upText: text, downText: undo.map(MigrationFile.normalizedText), checksumText: text,
                    tool: ToolRecordInfo(description: item.description, crc32: checksum(data), undoScript: undoName,
                                         undoCRC32: undo.map(checksum)))
                if item.kind == .repeatable { loaded.repeatables.append(file) } else { loaded.files.append(file) }
            } catch {
                loaded.invalid(item.name, version: key, error)
            }
        }
        for (version, name) in undos where !parsed.contains(where: { $0.kind == .versioned && $0.version == version }) {
            loaded.problems.append(MigrationProblem(kind: .invalid, version: keys[version], file: name, message: "\(name) undoes a version that has no V file"))
        }
        return loaded
    }
}
