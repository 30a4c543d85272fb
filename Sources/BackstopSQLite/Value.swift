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

    /// A literal for display in SQL-like output (strings quoted). Never used to build executed SQL.
    public var sqlLiteralForDisplay: String {
        switch self {
        case .text(let v): return "'" + v.replacingOccurrences(of: "'", with: "''") + "'"
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

    /// A JSON-compatible representation: numbers, strings, null; BLOBs as `{"blob_hex": "..."}`.
    public var jsonObject: Any {
        switch self {
        case .null: return NSNull()
        case .integer(let v): return v
        case .real(let v): return v
        case .text(let v): return v
        case .blob(let v): return ["blob_hex": v.map { String(format: "%02x", $0) }.joined()]
        }
    }
}
