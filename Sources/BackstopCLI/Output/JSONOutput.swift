import BackstopKit
import Foundation

/// JSON on stdout: one `Codable` type per command, each with a `schema` naming it and its version
/// (`backstop.snapshot/1`), so that scripts can rely on its shape. Every key is always present (`null`
/// when there is no value); keys are snake_case (each type names them, since names from databases, such
/// as columns, must stay exactly as they are). The README documents each type.
enum JSONOutput {
    static func string<T: Encodable>(_ value: T, pretty: Bool) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    static func schema(_ command: String) -> String { "backstop.\(command)/1" }
}

/// An optional value that is encoded as `null` when absent, so that a key is always present.
@propertyWrapper
struct Null<Value: Encodable>: Encodable {
    var wrappedValue: Value?
    init(wrappedValue: Value?) { self.wrappedValue = wrappedValue }
    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        if let wrappedValue { try container.encode(wrappedValue) } else { try container.encodeNil() }
    }
}

/// An SQLite value in JSON: numbers, strings and null as themselves; BLOBs as `{"blob_hex": "..."}`.
struct JSONValue: Encodable {
    var value: SQLiteValue
    init(_ value: SQLiteValue) { self.value = value }
    func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch value {
        case .null: try container.encodeNil()
        case .integer(let v): try container.encode(v)
        case .real(let v): try container.encode(v.isFinite ? v : 0)
        case .text(let v): try container.encode(v)
        case .blob(let v): try container.encode(["blob_hex": v.map { String(format: "%02x", $0) }.joined()])
        }
    }
}

/// Rows of a check query.
struct RowsJSON: Encodable {
    var columns: [String]
    var rows: [[JSONValue]]
    var more: Bool
    init(_ rows: CheckRows) {
        columns = rows.columns
        self.rows = rows.rows.map { $0.map(JSONValue.init) }
        more = rows.more
    }
}

/// A snapshot as `list`, `show` and every command that names one print it: its manifest, plus what
/// Backstop makes of it now.
struct SnapshotJSON: Encodable {
    var manifest: Manifest
    /// The database the snapshot counts for now (its recorded path, or where an adopted move took it).
    var databaseNow: String
    var futureDated: Bool

    init(_ manifest: Manifest, databaseNow: String? = nil, now: Date = Date()) {
        self.manifest = manifest
        self.databaseNow = databaseNow ?? manifest.database
        futureDated = manifest.isFutureDated(now: now)
    }

    enum Keys: String, CodingKey { case databaseNow = "database_now", futureDated = "future_dated", encryption }

    func encode(to encoder: Encoder) throws {
        try manifest.encode(to: encoder)
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(databaseNow, forKey: .databaseNow)
        try container.encode(futureDated, forKey: .futureDated)
        // The manifest leaves it out when there is none; output has every key (null when absent).
        if manifest.encryption == nil { try container.encodeNil(forKey: .encryption) }
    }
}

/// `{"schema": "backstop.error/1", "error": ..., "exit_status": N, "hint": ...}` on stdout when a command
/// given `--json` fails (the words are on stderr too).
struct ErrorJSON: Encodable {
    var schema = JSONOutput.schema("error")
    var error: String
    var exitStatus: Int32
    @Null var hint: String?
    /// With `--all`: the database the error is about.
    @Null var database: String?

    enum CodingKeys: String, CodingKey { case schema, error, exitStatus = "exit_status", hint, database }
}
