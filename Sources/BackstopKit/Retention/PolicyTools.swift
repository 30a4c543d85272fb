import BackstopCore
import BackstopCodec
import BackstopSQLite
import BackstopStore
import Foundation

/// The input of `backstop policy explain`: one snapshot per line, `RFC3339-time [kind] [pinned] [size=SIZE]`
/// (kind defaults to `manual`); blank lines and `#` comments are skipped.
public enum ExplainInput {
    public struct Entry: Sendable {
        /// 1-based line in the input.
        public var line: Int
        public var item: RetentionItem
    }

    public static func parse(_ text: String, file: String) throws -> [Entry] {
        var entries: [Entry] = []
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let first = words.first else { continue }
            func fail(_ message: String) -> BackstopError { .invalidInput("\(file):\(index + 1): \(message)") }
            guard let time = Timestamp.parseRFC3339(first) else {
                throw fail("cannot read the time '\(first)'; write RFC 3339, such as 2026-11-20T03:00:00Z")
            }
            var item = RetentionItem(id: String(format: "line-%06d", index + 1), time: time, database: "input")
            var sawKind = false
            for word in words.dropFirst() {
                if word == "pinned" { item.pinned = true }
                else if word.hasPrefix("size=") {
                    do { item.bytes = try ByteCount.parse(String(word.dropFirst(5))) } catch { throw fail("\(error)") }
                } else if !sawKind, word.allSatisfy({ $0.isLowercase || $0 == "-" || $0.isNumber }) {
                    item.kind = SnapshotKind(rawValue: word)
                    sawKind = true
                } else {
                    throw fail("unexpected '\(word)'; a line is: TIME [kind] [pinned] [size=SIZE]")
                }
            }
            entries.append(Entry(line: index + 1, item: item))
        }
        return entries
    }
}

/// `backstop policy simulate`: how many snapshots a policy keeps in steady state for a schedule.
public enum PolicySimulation {
    public struct Result: Sendable {
        public var taken: Int
        /// Snapshots kept at the end (just after the last prune).
        public var kept: Int
        /// The most snapshots held at once (just before a prune).
        public var peak: Int
        /// How many kept snapshots each rule accounts for (a snapshot may count for several rules).
        public var byRule: [(rule: String, count: Int)]
        public var bytes: Int64
        public var peakBytes: Int64
    }

    /// Takes a snapshot every `every` seconds for `duration`, pruning once a day (as a nightly cron
    /// job does), and reports what is kept at the end. Deterministic: time starts at `start`.
    public static func run(_ policy: RetentionPolicy, every: TimeInterval, for duration: TimeInterval, size: Int64,
                           kind: SnapshotKind = .manual, start: Date = Date(timeIntervalSince1970: 1_767_225_600)) -> Result {
        precondition(every > 0 && duration > 0)
        var items: [RetentionItem] = []
        var peak = 0
        var taken = 0
        var nextPrune = start.addingTimeInterval(86400)
        var last = RetentionResult(keep: [], remove: [], warnings: [])
        var t = start
        let end = start.addingTimeInterval(duration)
        while t <= end {
            taken += 1
            items.append(RetentionItem(id: Timestamp.compactID(t), time: t, kind: kind, database: "simulated", bytes: size))
            peak = max(peak, items.count)
            if t >= nextPrune || t.addingTimeInterval(every) > end {
                last = Retention.apply(policy, to: items, now: t)
                items = last.keep.map(\.item)
                nextPrune = nextPrune.addingTimeInterval(86400 * max(1, (every / 86400).rounded(.down)))
            }
            t = t.addingTimeInterval(every)
        }
        var counts: [String: Int] = [:]
        for verdict in last.keep {
            for reason in Set(verdict.keptBecause.map(\.ruleName)) { counts[reason, default: 0] += 1 }
        }
        let order = ["newest", "last", "hourly", "daily", "weekly", "monthly", "yearly", "within", "oldest", "pinned"]
        let byRule = counts.sorted { (order.firstIndex(of: $0.key) ?? 99, $0.key) < (order.firstIndex(of: $1.key) ?? 99, $1.key) }
            .map { (rule: $0.key, count: $0.value) }
        func total(_ count: Int) -> Int64 {
            let (bytes, overflow) = Int64(count).multipliedReportingOverflow(by: size)
            return overflow ? Int64.max : bytes
        }
        return Result(taken: taken, kept: items.count, peak: peak, byRule: byRule, bytes: total(items.count), peakBytes: total(peak))
    }
}

extension KeepReason {
    /// The rule's name, without its bucket or count: `daily`, `last`, `within` ...
    var ruleName: String {
        switch rule {
        case .newest: return "newest"
        case .pinned: return "pinned"
        case .futureDated: return "future-dated"
        case .last: return "last"
        case .within: return "within"
        case .bucket(let bucket, _): return bucket.rawValue
        case .oldest: return "oldest"
        }
    }
}
