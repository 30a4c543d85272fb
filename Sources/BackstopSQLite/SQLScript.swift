import CSQLite
import Foundation

/// One SQL statement of a script, with the line it starts on.
public struct SQLStatement: Equatable, Sendable {
    public var sql: String
    /// 1-based line in the file.
    public var line: Int

    public init(sql: String, line: Int) {
        self.sql = sql
        self.line = line
    }
}

/// Splits SQL scripts into statements, the way SQLite itself sees where one ends.
public enum SQLScript {
    /// Splits `text` into statements. Boundaries are semicolons outside strings, identifiers and
    /// comments where SQLite's own `sqlite3_complete` agrees a statement ends (so trigger bodies stay whole).
    /// `firstLine` is the file line that `text` starts on.
    public static func split(_ text: String, firstLine: Int = 1) -> [SQLStatement] {
        let chars = Array(text.utf8)
        var statements: [SQLStatement] = []
        var start = 0
        var i = 0
        var line = firstLine
        var startLine = firstLine
        func flush(upTo end: Int) {
            let piece = String(decoding: chars[start..<end], as: UTF8.self)
            if !isBlank(piece) {
                // The statement's line is that of its first token, after any leading comments.
                let body = SQLScript.stripLeadingComments(piece)
                let offset = piece[..<body.startIndex].filter { $0 == "\n" }.count
                statements.append(SQLStatement(sql: piece.trimmingCharacters(in: .whitespacesAndNewlines), line: startLine + offset))
            }
        }
        while i < chars.count {
            let c = chars[i]
            switch c {
            case UInt8(ascii: "\n"):
                line += 1
                i += 1
            case UInt8(ascii: "'"), UInt8(ascii: "\""), UInt8(ascii: "`"):
                i += 1
                while i < chars.count {
                    if chars[i] == UInt8(ascii: "\n") { line += 1 }
                    if chars[i] == c {
                        if i + 1 < chars.count && chars[i + 1] == c { i += 2; continue }
                        break
                    }
                    i += 1
                }
                i += 1
            case UInt8(ascii: "["):
                while i < chars.count && chars[i] != UInt8(ascii: "]") { if chars[i] == UInt8(ascii: "\n") { line += 1 }; i += 1 }
                i += 1
            case UInt8(ascii: "-") where i + 1 < chars.count && chars[i + 1] == UInt8(ascii: "-"):
                while i < chars.count && chars[i] != UInt8(ascii: "\n") { i += 1 }
            case UInt8(ascii: "/") where i + 1 < chars.count && chars[i + 1] == UInt8(ascii: "*"):
                i += 2
                while i + 1 < chars.count && !(chars[i] == UInt8(ascii: "*") && chars[i + 1] == UInt8(ascii: "/")) {
                    if chars[i] == UInt8(ascii: "\n") { line += 1 }
                    i += 1
                }
                i += 2
            case UInt8(ascii: ";"):
                i += 1
                let candidate = String(decoding: chars[start..<i], as: UTF8.self)
                if sqlite3_complete(candidate) != 0 {
                    flush(upTo: i)
                    start = i
                    startLine = line
                }
            default:
                i += 1
            }
        }
        if start < chars.count { flush(upTo: chars.count) }
        return statements
    }

    /// For each line of `text` (split on "\n"), whether it starts outside any string literal, quoted
    /// identifier or block comment: only such a line can be a section marker such as `-- backstop:down`
    /// (the same words inside a multi-line string are data).
    public static func linesStartingInCode(_ text: String) -> [Bool] {
        var result: [Bool] = [true]
        var state: UInt8 = 0          // 0 code, or the quote character, or "*" inside a block comment
        var inLineComment = false
        let chars = Array(text.utf8)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c == UInt8(ascii: "\n") {
                inLineComment = false
                result.append(state == 0)
                i += 1
                continue
            }
            if inLineComment { i += 1; continue }
            switch state {
            case 0:
                if c == UInt8(ascii: "'") || c == UInt8(ascii: "\"") || c == UInt8(ascii: "`") || c == UInt8(ascii: "[") {
                    state = c == UInt8(ascii: "[") ? UInt8(ascii: "]") : c
                } else if c == UInt8(ascii: "-") && i + 1 < chars.count && chars[i + 1] == UInt8(ascii: "-") {
                    inLineComment = true
                    i += 1
                } else if c == UInt8(ascii: "/") && i + 1 < chars.count && chars[i + 1] == UInt8(ascii: "*") {
                    state = UInt8(ascii: "*")
                    i += 1
                }
            case UInt8(ascii: "*"):
                if c == UInt8(ascii: "*") && i + 1 < chars.count && chars[i + 1] == UInt8(ascii: "/") {
                    state = 0
                    i += 1
                }
            default:
                if c == state {
                    // A doubled quote is an escaped quote, not the end.
                    if state != UInt8(ascii: "]"), i + 1 < chars.count, chars[i + 1] == state { i += 1 } else { state = 0 }
                }
            }
            i += 1
        }
        return result
    }

    /// True when `text` holds only whitespace and comments.
    public static func isBlank(_ text: String) -> Bool {
        stripLeadingComments(text).isEmpty
    }

    /// The statement without leading whitespace and comments.
    public static func stripLeadingComments(_ text: String) -> Substring {
        var rest = Substring(text)
        while true {
            rest = rest.drop { $0.isWhitespace }
            if rest.hasPrefix("--") {
                rest = rest.drop { $0 != "\n" }
            } else if rest.hasPrefix("/*") {
                guard let end = rest.range(of: "*/") else { return "" }
                rest = rest[end.upperBound...]
            } else {
                return rest
            }
        }
    }
}
