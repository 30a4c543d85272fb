import Foundation

/// One SQLite value, with its storage class preserved exactly (integers stay integers, BLOBs stay bytes).
public enum SQLiteValue: Hashable, Sendable, CustomStringConvertible {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])

    public var description: String {
        switch self {
        case .null: return "NULL"
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        case .text(let v): return v
        case .blob(let v): return "x'" + v.map { String(format: "%02x", $0) }.joined() + "'"
        }
    }

    /// A literal for display in SQL-like output (strings quoted, control characters escaped so that a value
    /// cannot break a line or drive a terminal). Never used to build executed SQL.
    public var sqlLiteralForDisplay: String {
        switch self {
        case .text(let v):
            var out = "'"
            for scalar in v.unicodeScalars {
                switch scalar {
                case "'": out += "''"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
                    || [0x200E, 0x200F, 0x2028, 0x2029].contains(scalar.value) || (0x202A...0x202E).contains(scalar.value)
                    || (0x2066...0x2069).contains(scalar.value):
                    out += String(format: scalar.value <= 0xFF ? "\\x%02X" : "\\u{%04X}", scalar.value)
                default: out.unicodeScalars.append(scalar)
                }
            }
            return out + "'"
        default: return description
        }
    }

    public var int64: Int64? { if case .integer(let v) = self { return v }; return nil }
    public var string: String? {
        switch self {
        case .text(let v): return v
        case .integer(let v): return String(v)
        case .real(let v): return String(v)
        default: return nil
        }
    }
    public var isNull: Bool { if case .null = self { return true }; return false }
}
