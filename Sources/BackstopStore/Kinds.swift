import Foundation

/// What a snapshot was taken for. Stored as text in manifests (`"manual"`, `"pre-migration"` ...), so a
/// newer Backstop's kinds still read; a kind is lowercase letters, digits and dashes.
public struct SnapshotKind: RawRepresentable, Hashable, Comparable, Codable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Taken on request (`backstop snapshot`).
    public static let manual = SnapshotKind(rawValue: "manual")
    /// Taken by a migration run before it changed anything (also around a wrapped migrator).
    public static let preMigration = SnapshotKind(rawValue: "pre-migration")
    /// Taken by a live restore of the state it replaced.
    public static let preRestore = SnapshotKind(rawValue: "pre-restore")
    /// Taken by a row-level recovery before it inserted anything.
    public static let preRecover = SnapshotKind(rawValue: "pre-recover")
    /// Taken before down migrations ran.
    public static let preDown = SnapshotKind(rawValue: "pre-down")

    /// The kinds Backstop takes itself, as a way back from what it is about to do.
    public static let taken: [SnapshotKind] = [.preMigration, .preRestore, .preRecover, .preDown]

    /// Snapshots of a state that Backstop was about to replace or undo (a restore, a recovery, a down
    /// migration): "the latest snapshot" never means one of these unless asked for by kind, or restoring
    /// twice would undo the first restore.
    public var isSafetySnapshot: Bool { self == .preRestore || self == .preRecover || self == .preDown }

    /// True for lowercase letters, digits and dashes.
    public var isWellFormed: Bool {
        !rawValue.isEmpty && rawValue.utf8.allSatisfy { (97...122).contains($0) || $0 == UInt8(ascii: "-") || (48...57).contains($0) }
    }

    public var description: String { rawValue }
    public static func < (a: SnapshotKind, b: SnapshotKind) -> Bool { a.rawValue < b.rawValue }

    public init(from decoder: Decoder) throws { rawValue = try decoder.singleValueContainer().decode(String.self) }
    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
