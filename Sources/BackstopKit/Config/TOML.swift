import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// A value in a TOML file.
public enum TOMLValue: Equatable, Sendable {
    case string(String)
    case integer(Int64)
    case float(Double)
    case bool(Bool)
    case array([TOMLValue])
}

/// A parsed TOML document that remembers the line of every key, so errors can name file, key and line.
///
/// Backstop's configuration and policy files use a strict subset of TOML: `[table]` and `[a.b]`
/// headers, `key = value` with bare or quoted keys, basic and literal strings, integers, floats,
/// booleans, one-line arrays, and `#` comments. Anything else is an error with its line, never
/// silently misread.
public struct TOMLDocument: Sendable {
    public struct Entry: Sendable {
        public var key: String
        public var value: TOMLValue
        public var line: Int
    }

    public struct Table: Sendable {
        public var name: String
        public var line: Int
        public var entries: [Entry]
        public func entry(_ key: String) -> Entry? { entries.first { $0.key == key } }
    }

    public var file: String
    /// The root table (name "") first, then tables in file order.
    public var tables: [Table]

    public func table(_ name: String) -> Table? { tables.first { $0.name == name } }

    public static func load(path: String) throws -> TOMLDocument {
        guard let data = try? FileSystem.readSmallFile(path, limit: 1 << 20) else {
            throw BackstopError.invalidInput("cannot read \(path): \(FileSystem.exists(path) ? "not a readable regular file" : "no such file")")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BackstopError.invalidInput("\(path): not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// The file's text with a UTF-8 byte order mark dropped and CRLF (or CR) line endings made LF: a file
    /// saved on Windows reads like any other.
    static func normalized(_ text: String) -> String {
        var text = text
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        return text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    }

    public static func parse(_ text: String, file: String) throws -> TOMLDocument {
        var document = TOMLDocument(file: file, tables: [Table(name: "", line: 0, entries: [])])
        var current = 0
        for (index, rawLine) in normalized(text).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let lineNumber = index + 1
            var parser = LineParser(chars: Array(String(rawLine).trimmingCharacters(in: CharacterSet(charactersIn: "\r"))),
                                    file: file, line: lineNumber)
            parser.skipSpaces()
            if parser.atEnd || parser.peek == "#" { continue }
            if parser.peek == "[" {
                parser.advance()
                if parser.peek == "[" { throw parser.error("arrays of tables ([[...]]) are not supported here") }
                var parts: [String] = []
                repeat {
                    parser.skipSpaces()
                    parts.append(try parser.key())
                    parser.skipSpaces()
                } while parser.consume(".")
                guard parser.consume("]") else { throw parser.error("expected ']' to close the table name") }
                try parser.expectEndOfLine()
                let name = parts.joined(separator: ".")
                if document.tables.contains(where: { $0.name == name }) {
                    throw parser.error("the table [\(name)] appears twice")
                }
                document.tables.append(Table(name: name, line: lineNumber, entries: []))
                current = document.tables.count - 1
                continue
            }
            let key = try parser.key()
            parser.skipSpaces()
            if parser.peek == "." { throw parser.error("dotted keys are not supported here; use a [table] header") }
            guard parser.consume("=") else { throw parser.error("expected '=' after the key '\(key)'") }
            parser.skipSpaces()
            let value = try parser.value()
            try parser.expectEndOfLine()
            if document.tables[current].entries.contains(where: { $0.key == key }) {
                throw parser.error("the key '\(key)' appears twice" + (document.tables[current].name.isEmpty ? "" : " in [\(document.tables[current].name)]"))
            }
            document.tables[current].entries.append(Entry(key: key, value: value, line: lineNumber))
        }
        return document
    }
}

/// Reads one line of TOML.
private struct LineParser {
    var chars: [Character]
    var file: String
    var line: Int
    var index = 0

    var atEnd: Bool { index >= chars.count }
    var peek: Character? { atEnd ? nil : chars[index] }
    mutating func advance() { index += 1 }
    mutating func consume(_ c: Character) -> Bool {
        if peek == c { index += 1; return true }
        return false
    }
    mutating func skipSpaces() { while let c = peek, c == " " || c == "\t" { index += 1 } }

    func error(_ message: String) -> BackstopError {
        .invalidInput("\(file):\(line): \(message)")
    }

    mutating func expectEndOfLine() throws {
        skipSpaces()
        if atEnd || peek == "#" { return }
        throw error("unexpected text '\(String(chars[index...]))'")
    }

    mutating func key() throws -> String {
        if peek == "\"" || peek == "'" {
            let value = try string()
            return value
        }
        var key = ""
        while let c = peek, c.isASCII, c.isLetter || c.isNumber || c == "_" || c == "-" { key.append(c); index += 1 }
        guard !key.isEmpty else { throw error("expected a key") }
        return key
    }

    mutating func value() throws -> TOMLValue {
        guard let c = peek else { throw error("expected a value") }
        switch c {
        case "\"", "'":
            if index + 2 < chars.count, chars[index + 1] == c, chars[index + 2] == c {
                throw error("multi-line strings are not supported here")
            }
            return .string(try string())
        case "[":
            advance()
            var items: [TOMLValue] = []
            skipSpaces()
            while !consume("]") {
                items.append(try value())
                skipSpaces()
                if consume(",") { skipSpaces(); continue }
                skipSpaces()
                guard consume("]") else { throw error("expected ',' or ']' in the list") }
                break
            }
            return .array(items)
        case "{":
            throw error("inline tables are not supported here; use a [table] header")
        default:
            var word = ""
            while let c = peek, !(c == " " || c == "\t" || c == "," || c == "]" || c == "#") { word.append(c); index += 1 }
            if word == "true" { return .bool(true) }
            if word == "false" { return .bool(false) }
            let digits = word.replacingOccurrences(of: "_", with: "")
            if let integer = Int64(digits) { return .integer(integer) }
            if digits.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }), let float = Double(digits) { return .float(float) }
            throw error("cannot read the value '\(word)' (strings need quotes)")
        }
    }

    mutating func string() throws -> String {
        let quote = peek!
        advance()
        var result = ""
        while true {
            guard let c = peek else { throw error("unterminated string") }
            advance()
            if c == quote { return result }
            if c == "\\" && quote == "\"" {
                guard let e = peek else { throw error("unterminated string") }
                advance()
                switch e {
                case "\"": result.append("\"")
                case "\\": result.append("\\")
                case "n": result.append("\n")
                case "t": result.append("\t")
                case "r": result.append("\r")
                case "u", "U":
                    let count = e == "u" ? 4 : 8
                    guard index + count <= chars.count, let code = UInt32(String(chars[index..<index + count]), radix: 16),
                          let scalar = Unicode.Scalar(code) else { throw error("invalid \\\(e) escape") }
                    result.unicodeScalars.append(scalar)
                    index += count
                default: throw error("invalid escape \\\(e)")
                }
            } else {
                result.append(c)
            }
        }
    }
}
