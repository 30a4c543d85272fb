import Foundation

/// Text read from manifests, databases, files or the command line is printed with its control characters
/// escaped: a label must not clear the screen (ANSI/OSC sequences), forge rows of a listing (newlines),
/// or reorder what follows it (bidirectional overrides).
enum TerminalText {
    /// Escapes every control character, newlines included: for table cells and single-line fields.
    static func escape(_ text: String) -> String { escape(text, keepNewlines: false) }

    /// Escapes control characters but keeps newlines: for multi-line messages Backstop composed.
    static func escapeKeepingLines(_ text: String) -> String { escape(text, keepNewlines: true) }

    static func escape(_ text: String, keepNewlines: Bool) -> String {
        guard text.unicodeScalars.contains(where: { needsEscape($0, keepNewlines: keepNewlines) }) else { return text }
        var out = ""
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar, keepNewlines: keepNewlines) else { out.unicodeScalars.append(scalar); continue }
            switch scalar {
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{1B}": out += "\\e"
            default:
                out += scalar.value <= 0xFF ? String(format: "\\x%02X", scalar.value) : String(format: "\\u{%04X}", scalar.value)
            }
        }
        return out
    }

    private static func needsEscape(_ scalar: Unicode.Scalar, keepNewlines: Bool) -> Bool {
        if scalar == "\n" { return !keepNewlines }
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true                   // C0, DEL, C1 controls
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069: return true   // bidirectional marks and overrides
        case 0x2028, 0x2029: return true                               // line and paragraph separators
        default: return false
        }
    }
}

/// A line for the terminal: every interpolated value is escaped (see ``TerminalText``) unless it is
/// marked `raw:` (already-safe text Backstop composed) or `lines:` (keep its newlines).
struct Line: ExpressibleByStringInterpolation, ExpressibleByStringLiteral, CustomStringConvertible {
    let text: String

    init(stringLiteral value: String) { text = value }
    init(stringInterpolation: Interpolation) { text = stringInterpolation.text }
    init(raw: String) { text = raw }

    var description: String { text }

    struct Interpolation: StringInterpolationProtocol {
        var text = ""
        init(literalCapacity: Int, interpolationCount: Int) { text.reserveCapacity(literalCapacity * 2) }
        mutating func appendLiteral(_ literal: String) { text += literal }
        mutating func appendInterpolation(_ value: String) { text += TerminalText.escape(value) }
        mutating func appendInterpolation<T: CustomStringConvertible>(_ value: T) { text += TerminalText.escape(value.description) }
        mutating func appendInterpolation(_ value: Line) { text += value.text }
        mutating func appendInterpolation(raw value: String) { text += value }
        mutating func appendInterpolation(lines value: String) { text += TerminalText.escapeKeepingLines(value) }
    }

    static func + (a: Line, b: Line) -> Line { Line(raw: a.text + b.text) }
}
