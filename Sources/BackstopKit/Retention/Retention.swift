import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// One snapshot as retention sees it.
public struct RetentionItem: Equatable, Sendable {
    public var id: String
    public var time: Date
    public var kind: SnapshotKind
    public var pinned: Bool
    /// Which database the snapshot is of: the policy applies to each database separately.
    public var database: String
    /// Bytes the snapshot takes in the store (for `max_total_size`).
    public var bytes: Int64

    public init(id: String, time: Date, kind: SnapshotKind = .manual, pinned: Bool = false, database: String = "", bytes: Int64 = 0) {
        self.id = id; self.time = time; self.kind = kind; self.pinned = pinned; self.database = database; self.bytes = bytes
    }

    public init(_ manifest: Manifest) {
        self.init(id: manifest.id, time: manifest.createdDate, kind: manifest.kind, pinned: manifest.pinned,
                  database: manifest.database, bytes: manifest.compressedBytes)
    }
}

/// Why a snapshot is kept: the rule, and the bucket or count it matched (restic's KeepReason).
public struct KeepReason: Equatable, Sendable, CustomStringConvertible {
    public enum Rule: Equatable, Sendable {
        /// The newest snapshot of its database (never removed).
        case newest
        case pinned
        /// Dated after the evaluation time (never removed; the clock that took it was wrong).
        case futureDated
        /// Among the N newest (`keep_last`).
        case last(KeepCount)
        /// Within this long of the newest (`keep_within`, as written).
        case within(String)
        /// The newest of its calendar bucket (`keep_daily` ...): the bucket's name, such as `2026-11-21`.
        case bucket(CalendarBucket, String)
        /// The oldest snapshot, kept because there are fewer buckets than the rule asks for.
        case oldest(CalendarBucket)
    }

    public var rule: Rule
    /// The kind whose own section of the policy applied (nil for the regular rules).
    public var section: SnapshotKind?

    public var description: String {
        let text: String
        switch rule {
        case .newest: text = "newest"
        case .pinned: text = "pinned"
        case .futureDated: text = "future-dated"
        case .last(let count): text = count == .unlimited ? "last (unlimited)" : "last \(count)"
        case .within(let duration): text = "within \(duration)"
        case .bucket(let bucket, let name): text = "\(bucket.rawValue) \(name)"
        case .oldest(let bucket): text = "oldest (fewer \(bucket.noun)s than keep_\(bucket.rawValue))"
        }
        return (section.map { "\($0): " } ?? "") + text
    }
}

/// Why a snapshot is removed.
public enum RemovalReason: Equatable, Sendable, CustomStringConvertible {
    case notKept
    /// Kept by these rules, but over the size cap (`max_total_size`, as written).
    case overSizeCap(String, keptBy: [KeepReason])

    public var description: String {
        switch self {
        case .notKept: return "not kept by any rule"
        case .overSizeCap(let cap, let keptBy):
            return "over max_total_size \(cap) (was kept by: \(keptBy.map(\.description).joined(separator: ", ")))"
        }
    }
}

/// What the policy decided for one snapshot, and why.
public struct RetentionVerdict: Equatable, Sendable {
    public var item: RetentionItem
    /// Why it is kept (empty when it is removed).
    public var keptBecause: [KeepReason]
    /// Why it is removed (nil when it is kept).
    public var removedBecause: RemovalReason?

    /// The reasons in words: what kept it, or why it goes.
    public var reasons: [String] { removedBecause.map { [$0.description] } ?? keptBecause.map(\.description) }
}

/// The outcome of applying a policy: what to keep and what to remove, each with reasons.
public struct RetentionResult: Equatable, Sendable {
    /// Oldest first.
    public var keep: [RetentionVerdict]
    /// Oldest first.
    public var remove: [RetentionVerdict]
    public var warnings: [String]
}

/// Retention as a pure function: the same policy, snapshots and `now` always give the same result.
///
/// Per database, and within it per class (regular snapshots, and each kind that has its own section):
/// - `keep_last N` keeps the N newest;
/// - each calendar rule keeps the newest snapshot of each of the N newest buckets (hour, day,
///   ISO-8601 week, month, year, in the policy's time zone, by local wall-clock time, so across a DST
///   change each local hour and day is one bucket); when there are fewer buckets than N, the oldest
///   snapshot is kept too;
/// - `keep_within` keeps everything within that long of the class's newest snapshot that is not in
///   the future (not of the wall clock, so a machine that was off does not lose everything at once).
///
/// Never removed: pinned snapshots (they do not use up a bucket), the newest snapshot of each database,
/// snapshots dated after `now` (with a warning). `max_total_size` then removes the oldest snapshots
/// that are not protected that way until the database's snapshots fit. Ties in time are broken by id.
public enum Retention {
    public static func apply(_ policy: RetentionPolicy, to items: [RetentionItem], now: Date) -> RetentionResult {
        var keep: [RetentionVerdict] = []
        var remove: [RetentionVerdict] = []
        var warnings: [String] = []
        let byDatabase = Dictionary(grouping: items, by: \.database)
        for database in byDatabase.keys.sorted() {
            let result = applyToOneDatabase(policy, byDatabase[database]!, now: now)
            keep += result.keep
            remove += result.remove
            warnings += result.warnings
        }
        let order = { (a: RetentionVerdict, b: RetentionVerdict) in (a.item.time, a.item.id) < (b.item.time, b.item.id) }
        return RetentionResult(keep: keep.sorted(by: order), remove: remove.sorted(by: order), warnings: warnings)
    }

    private static func applyToOneDatabase(_ policy: RetentionPolicy, _ items: [RetentionItem], now: Date) -> RetentionResult {
        // Newest first; equal times ordered by id so ties are deterministic.
        let sorted = items.sorted { ($0.time, $0.id) > ($1.time, $1.id) }
        var reasons: [String: [KeepReason]] = [:]
        var protected: Set<String> = []
        var warnings: [String] = []
        func add(_ item: RetentionItem, _ reason: KeepReason) { reasons[item.id, default: []].append(reason) }

        var judged: [RetentionItem] = []
        for item in sorted {
            if item.time > now {
                add(item, KeepReason(rule: .futureDated))
                protected.insert(item.id)
                warnings.append("snapshot \(item.id) is dated \(Timestamp.rfc3339(item.time)), in the future; it is kept (check the clock of the machine that took it)")
            } else if item.pinned {
                add(item, KeepReason(rule: .pinned))
                protected.insert(item.id)
            } else {
                judged.append(item)
            }
        }
        if let newest = sorted.first(where: { $0.time <= now }) {
            add(newest, KeepReason(rule: .newest))
            protected.insert(newest.id)
        }

        // Each kind with a section of its own is judged apart; every other kind by the regular rules,
        // still apart, so that one kind never takes another's bucket.
        let classes = Dictionary(grouping: judged, by: \.kind)
        for kind in classes.keys.sorted() {
            let members = classes[kind]!   // newest first
            let rules = policy.rules(for: kind)
            applyRules(rules, to: members, zone: policy.timeZone, section: kind == .manual ? nil : kind, add: add)
        }

        // The size cap: the oldest snapshots that are not protected go first.
        var overCap: [String: RemovalReason] = [:]
        if let cap = policy.maxTotalSize {
            var total = sorted.filter { reasons[$0.id] != nil }.reduce(Int64(0)) { $0 + $1.bytes }
            for item in sorted.reversed() where total > cap && reasons[item.id] != nil && !protected.contains(item.id) {
                overCap[item.id] = .overSizeCap(policy.maxTotalSizeText ?? String(cap), keptBy: reasons[item.id]!)
                total -= item.bytes
            }
        }

        var result = RetentionResult(keep: [], remove: [], warnings: warnings)
        for item in sorted {
            if let why = reasons[item.id], overCap[item.id] == nil {
                result.keep.append(RetentionVerdict(item: item, keptBecause: why, removedBecause: nil))
            } else {
                result.remove.append(RetentionVerdict(item: item, keptBecause: [], removedBecause: overCap[item.id] ?? .notKept))
            }
        }
        return result
    }

    /// Applies one class's rules to its snapshots (newest first).
    private static func applyRules(_ rules: RetentionRules, to members: [RetentionItem], zone: TimeZone, section: SnapshotKind?,
                                   add: (RetentionItem, KeepReason) -> Void) {
        guard !members.isEmpty else { return }
        if let keepLast = rules.keepLast {
            let count = keepLast == .unlimited ? members.count : { if case .count(let n) = keepLast { return n } else { return 0 } }()
            for item in members.prefix(count) { add(item, KeepReason(rule: .last(keepLast), section: section)) }
        }
        if let within = rules.keepWithin, let newest = members.first {
            let cutoff = newest.time.addingTimeInterval(-within)
            for item in members where item.time >= cutoff {
                add(item, KeepReason(rule: .within(rules.keepWithinText ?? DurationText.format(within)), section: section))
            }
        }
        guard !rules.buckets.isEmpty else { return }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        var iso = Calendar(identifier: .iso8601)
        iso.timeZone = zone
        let keys = members.map { BucketKeys(date: $0.time, calendar: calendar, iso: iso) }
        for bucket in CalendarBucket.allCases {
            guard let count = rules.buckets[bucket] else { continue }
            var remaining: Int
            switch count { case .unlimited: remaining = Int.max; case .count(let n): remaining = n }
            guard remaining > 0 else { continue }
            var seen: Set<String> = []
            for (item, key) in zip(members, keys) {
                let value = key.value(for: bucket)
                if seen.insert(value).inserted {
                    add(item, KeepReason(rule: .bucket(bucket, value), section: section))
                    remaining -= 1
                    if remaining == 0 { break }
                }
            }
            if remaining > 0 && count != .unlimited, let oldest = members.last {
                add(oldest, KeepReason(rule: .oldest(bucket), section: section))
            }
        }
    }
}

/// A snapshot's calendar buckets, computed once: local wall-clock hour, day, ISO week, month, year.
struct BucketKeys {
    var hour: String, day: String, week: String, month: String, year: String

    init(date: Date, calendar: Calendar, iso: Calendar) {
        let c = calendar.dateComponents([.year, .month, .day, .hour], from: date)
        let w = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
        year = String(format: "%04d", c.year!)
        month = String(format: "%04d-%02d", c.year!, c.month!)
        day = String(format: "%04d-%02d-%02d", c.year!, c.month!, c.day!)
        hour = String(format: "%04d-%02d-%02d %02dh", c.year!, c.month!, c.day!, c.hour!)
        week = String(format: "%04d-W%02d", w.yearForWeekOfYear!, w.weekOfYear!)
    }

    func value(for bucket: CalendarBucket) -> String {
        switch bucket { case .hourly: return hour; case .daily: return day; case .weekly: return week
        case .monthly: return month; case .yearly: return year }
    }
}
