import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// How many buckets a rule keeps: a number, or every bucket.
public enum KeepCount: Equatable, Sendable, CustomStringConvertible {
    case count(Int)
    case unlimited

    public var description: String {
        switch self { case .count(let n): return String(n); case .unlimited: return "unlimited" }
    }

    var isZero: Bool { self == .count(0) }
}

/// The calendar buckets a policy can keep one snapshot per.
public enum CalendarBucket: String, CaseIterable, Sendable {
    case hourly, daily, weekly, monthly, yearly

    var noun: String {
        switch self { case .hourly: return "hour"; case .daily: return "day"; case .weekly: return "week"
        case .monthly: return "month"; case .yearly: return "year" }
    }

}

/// The keep rules for one class of snapshots (regular ones, or one kind's section).
public struct RetentionRules: Equatable, Sendable {
    public var keepLast: KeepCount?
    public var buckets: [CalendarBucket: KeepCount] = [:]
    /// Keep everything within this long of the newest snapshot (that is not in the future).
    public var keepWithin: TimeInterval?
    /// The duration as written (`14d`), for reasons.
    public var keepWithinText: String?

    public init() {}

    /// True when the rules keep at least something.
    var keepsSomething: Bool {
        (keepLast.map { !$0.isZero } ?? false) || buckets.values.contains { !$0.isZero } || (keepWithin ?? 0) > 0
    }

    public var isEmpty: Bool { keepLast == nil && buckets.isEmpty && keepWithin == nil }
}

/// A retention policy: rules for regular snapshots, rules per snapshot kind, a time zone for calendar
/// buckets, and an optional size cap. See `policies/` for documented examples.
public struct RetentionPolicy: Equatable, Sendable {
    /// Kinds the tool creates that a policy may give their own section (`[pre_migration]` ...).
    public static let kindSections = SnapshotKind.taken
    static let ruleKeys = ["keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "keep_within"]

    public var file: String
    /// Rules for `manual` snapshots, and for kinds that have no section of their own.
    public var regular: RetentionRules
    /// Rules per kind (`pre-migration` ...).
    public var kinds: [SnapshotKind: RetentionRules]
    public var timeZone: TimeZone
    /// The time zone as the policy names it ("UTC", "Europe/Paris").
    public var timeZoneName: String = "UTC"
    public var maxTotalSize: Int64?
    public var maxTotalSizeText: String?

    public init(file: String = "policy", regular: RetentionRules, kinds: [SnapshotKind: RetentionRules] = [:],
                timeZone: TimeZone = TimeZone(identifier: "UTC")!, maxTotalSize: Int64? = nil, maxTotalSizeText: String? = nil) {
        self.file = file; self.regular = regular; self.kinds = kinds; self.timeZone = timeZone
        self.maxTotalSize = maxTotalSize; self.maxTotalSizeText = maxTotalSizeText
    }

    /// The rules that judge snapshots of `kind`.
    public func rules(for kind: SnapshotKind) -> RetentionRules { kinds[kind] ?? regular }

    public static func load(path: String) throws -> RetentionPolicy {
        try parse(try TOMLDocument.load(path: path))
    }

    public static func parse(_ document: TOMLDocument) throws -> RetentionPolicy {
        let file = document.file
        func fail(_ line: Int, _ key: String, _ message: String) -> BackstopError {
            .invalidInput("\(file):\(line): \(key): \(message)")
        }
        var policy = RetentionPolicy(file: file, regular: RetentionRules())
        for table in document.tables {
            var rules = RetentionRules()
            let kind: SnapshotKind?
            if table.name.isEmpty {
                kind = nil
            } else {
                let name = SnapshotKind(rawValue: table.name.replacingOccurrences(of: "_", with: "-"))
                guard kindSections.contains(name) else {
                    throw BackstopError.invalidInput("\(file):\(table.line): [\(table.name)]: unknown section; expected one of "
                        + kindSections.map { "[\($0.rawValue.replacingOccurrences(of: "-", with: "_"))]" }.joined(separator: ", "))
                }
                kind = name
            }
            for entry in table.entries {
                switch entry.key {
                case "timezone" where kind == nil:
                    guard case .string(let name) = entry.value, let zone = TimeZone(identifier: name) else {
                        throw fail(entry.line, entry.key, "unknown time zone \(entry.value.display); use an IANA name such as \"Europe/Paris\" or \"UTC\"")
                    }
                    policy.timeZone = zone
                    policy.timeZoneName = name
                case "max_total_size" where kind == nil:
                    guard case .string(let text) = entry.value else { throw fail(entry.line, entry.key, "must be a size in quotes, such as \"20GB\"") }
                    do {
                        let bytes = try ByteCount.parse(text)
                        guard bytes > 0 else { throw fail(entry.line, entry.key, "must be more than zero") }
                        policy.maxTotalSize = bytes
                        policy.maxTotalSizeText = text
                    } catch let error as BackstopError {
                        if case .invalidInput(let message, _) = error, !message.hasPrefix(file) { throw fail(entry.line, entry.key, message) }
                        throw error
                    }
                case "keep_within":
                    guard case .string(let text) = entry.value else { throw fail(entry.line, entry.key, "must be a duration in quotes, such as \"14d\" or \"36h\"") }
                    guard let seconds = try? DurationText.parse(text), seconds >= 0 else {
                        throw fail(entry.line, entry.key, "cannot read the duration \"\(text)\"; write a number and a unit, such as 36h, 14d or 2w")
                    }
                    rules.keepWithin = seconds
                    rules.keepWithinText = text
                case "keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly":
                    let count: KeepCount
                    switch entry.value {
                    case .integer(let n) where n >= 0 && n <= Int64(Int32.max): count = .count(Int(n))
                    case .integer(let n) where n < 0: throw fail(entry.line, entry.key, "must not be negative (got \(n))")
                    case .string("unlimited"): count = .unlimited
                    default: throw fail(entry.line, entry.key, "must be a count (0 or more) or \"unlimited\", not \(entry.value.display)")
                    }
                    if entry.key == "keep_last" { rules.keepLast = count }
                    else { rules.buckets[CalendarBucket(rawValue: String(entry.key.dropFirst(5)))!] = count }
                default:
                    let allowed = (kind == nil ? ["timezone", "max_total_size"] : []) + ruleKeys
                    throw fail(entry.line, entry.key, "unknown key" + (kind.map { " in [\($0.rawValue.replacingOccurrences(of: "-", with: "_"))]" } ?? "")
                               + "; expected one of " + allowed.joined(separator: ", "))
                }
            }
            if let kind {
                if rules.isEmpty { throw BackstopError.invalidInput("\(file):\(table.line): [\(table.name)]: the section has no keep rule") }
                policy.kinds[kind] = rules
            } else {
                policy.regular = rules
            }
        }
        if policy.regular.isEmpty && policy.kinds.isEmpty {
            throw BackstopError.invalidInput("\(file): the policy is empty: give at least one keep rule (keep_last, keep_daily, keep_within ...)")
        }
        if !policy.regular.isEmpty && !policy.regular.keepsSomething || policy.kinds.contains(where: { !$0.value.keepsSomething })
            || (policy.regular.isEmpty && !policy.kinds.values.contains { $0.keepsSomething }) {
            throw BackstopError.invalidInput("\(file): the policy would remove every snapshot (every rule keeps zero); refusing it")
        }
        return policy
    }
}

extension TOMLValue {
    var display: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .integer(let n): return String(n)
        case .float(let f): return String(f)
        case .bool(let b): return String(b)
        case .array: return "a list"
        }
    }
}
