import Foundation

/// SQLite's journal mode, as `PRAGMA journal_mode` names it.
///
/// Related SQLite documentation: <https://www.sqlite.org/pragma.html#pragma_journal_mode>
public struct JournalMode: RawRepresentable, Hashable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue.lowercased() }

    public static let wal = JournalMode(rawValue: "wal")
    public static let delete = JournalMode(rawValue: "delete")
    public static let truncate = JournalMode(rawValue: "truncate")
    public static let persist = JournalMode(rawValue: "persist")
    public static let memory = JournalMode(rawValue: "memory")
    public static let off = JournalMode(rawValue: "off")

    public var description: String { rawValue }

    public init(from decoder: Decoder) throws { self.init(rawValue: try decoder.singleValueContainer().decode(String.self)) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
