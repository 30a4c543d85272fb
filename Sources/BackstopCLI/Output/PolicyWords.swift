import BackstopKit

/// Retention policies in words, for `policy check`.
enum PolicyWords {
    static func noun(_ bucket: CalendarBucket) -> String {
        switch bucket {
        case .hourly: return "hour"
        case .daily: return "day"
        case .weekly: return "week"
        case .monthly: return "month"
        case .yearly: return "year"
        }
    }

    static func rules(_ rules: RetentionRules) -> String {
        var parts: [String] = []
        if let keepLast = rules.keepLast { parts.append(keepLast == .unlimited ? "every snapshot" : "the last \(keepLast)") }
        for bucket in CalendarBucket.allCases {
            guard let count = rules.buckets[bucket] else { continue }
            parts.append(count == .unlimited ? "the newest of every \(noun(bucket))" : "the newest of each of the last \(count) \(noun(bucket))s")
        }
        if let within = rules.keepWithinText { parts.append("everything within \(within) of the newest snapshot") }
        return parts.isEmpty ? "nothing by rule" : parts.joined(separator: "; ")
    }

    static func policy(_ policy: RetentionPolicy) -> String {
        var lines: [String] = []
        let regular = policy.regular.isEmpty ? "no rules: only the newest, pinned and future-dated ones are kept" : rules(policy.regular)
        lines.append("Regular snapshots (manual, and kinds without their own section): keep \(regular).")
        for kind in policy.kinds.keys.sorted() {
            lines.append("\(kind) snapshots, judged on their own: keep \(rules(policy.kinds[kind]!)).")
        }
        lines.append("Calendar buckets (hour, day, ISO week, month, year) are counted in \(policy.timeZoneName); the newest snapshot of each bucket is the one kept.")
        if let size = policy.maxTotalSizeText {
            lines.append("At most \(size) of snapshots per database: beyond that, the oldest snapshots not protected below are removed too.")
        }
        lines.append("Always kept: pinned snapshots, the newest snapshot of each database, snapshots dated in the future, and files that are not complete snapshots.")
        return lines.joined(separator: "\n")
    }

    /// Why a snapshot is kept or removed, for a table: a kind's section named once, and "oldest"
    /// left out where the snapshot is its bucket's newest anyway (JSON keeps every reason).
    static func reasons(_ verdict: RetentionVerdict) -> String {
        if verdict.removedBecause != nil { return verdict.reasons.joined(separator: ", ") }
        let buckets = Set(verdict.keptBecause.compactMap { reason -> CalendarBucket? in
            if case .bucket(let bucket, _) = reason.rule { return bucket } else { return nil }
        })
        let shown = verdict.keptBecause.filter { reason in
            if case .oldest(let bucket) = reason.rule { return !buckets.contains(bucket) } else { return true }
        }
        var parts: [String] = []
        var section: SnapshotKind??
        for reason in shown {
            var text = reason.description
            if let kind = reason.section, text.hasPrefix("\(kind): ") { text.removeFirst("\(kind): ".count) }
            if section == nil || section! != reason.section {
                section = .some(reason.section)
                if let kind = reason.section { text = "\(kind): " + text }
            }
            parts.append(text)
        }
        return parts.joined(separator: ", ")
    }
}
