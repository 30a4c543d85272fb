import Foundation

/// Formatting and parsing of the times Backstop shows and accepts.
public enum Timestamp {
    private static let utc = TimeZone(identifier: "UTC")!

    private static func components(_ date: Date, in zone: TimeZone) -> DateComponents {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        return calendar.dateComponents([.year, .month, .day, .hour, .minute, .second, .nanosecond], from: date)
    }

    private static func milliseconds(_ date: Date) -> Int {
        let ms = Int((date.timeIntervalSince1970 * 1000).rounded(.down)) % 1000
        return ms < 0 ? ms + 1000 : ms
    }

    /// `2026-11-22T10:15:00.123Z`
    public static func rfc3339(_ date: Date) -> String {
        let seconds = Date(timeIntervalSince1970: (date.timeIntervalSince1970).rounded(.down))
        let c = components(seconds, in: utc)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                      c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, milliseconds(date))
    }

    /// `20261122T101500123Z`: sortable by time, safe as a file name.
    public static func compactID(_ date: Date) -> String {
        let seconds = Date(timeIntervalSince1970: (date.timeIntervalSince1970).rounded(.down))
        let c = components(seconds, in: utc)
        return String(format: "%04d%02d%02dT%02d%02d%02d%03dZ",
                      c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!, milliseconds(date))
    }

    /// `2026-11-22 11:15:00 CET`: the same instant in a time zone (the machine's by default).
    public static func local(_ date: Date, zone: TimeZone = .current) -> String {
        let c = components(date, in: zone)
        let abbreviation = zone.abbreviation(for: date) ?? zone.identifier
        return String(format: "%04d-%02d-%02d %02d:%02d:%02d ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!) + abbreviation
    }

    /// Parses RFC 3339 with optional fraction (`2026-11-22T10:15:00.123Z`, `...+01:00`).
    public static func parseRFC3339(_ text: String) -> Date? {
        parseAbsolute(text, defaultZone: nil)
    }

    /// Parses an absolute time. Accepted: `2026-11-22T10:00:00Z`, `2026-11-22T10:00:00.5+01:00`,
    /// `2026-11-22 10:00` and `2026-11-22T10:00` (local time, or `defaultZone`), `2026-11-22` (midnight).
    /// With `defaultZone` nil, a zone designator is required.
    public static func parseAbsolute(_ text: String, defaultZone: TimeZone?) -> Date? {
        let scalars = Array(text.trimmingCharacters(in: .whitespaces).utf8)
        var i = 0
        func number(_ digits: Int) -> Int? {
            guard i + digits <= scalars.count else { return nil }
            var value = 0
            for k in 0..<digits {
                let c = scalars[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                value = value * 10 + Int(c - 48)
            }
            i += digits
            return value
        }
        func expect(_ char: Character) -> Bool {
            guard i < scalars.count, scalars[i] == char.asciiValue! else { return false }
            i += 1
            return true
        }
        guard let year = number(4), expect("-"), let month = number(2), expect("-"), let day = number(2) else { return nil }
        var hour = 0, minute = 0, second = 0
        var fraction = 0.0
        if i < scalars.count, scalars[i] == UInt8(ascii: "T") || scalars[i] == UInt8(ascii: "t") || scalars[i] == UInt8(ascii: " ") {
            i += 1
            guard let h = number(2), expect(":"), let m = number(2) else { return nil }
            hour = h; minute = m
            if expect(":") {
                guard let s = number(2) else { return nil }
                second = s
                if expect(".") || expect(",") {
                    var scale = 0.1
                    var any = false
                    while i < scalars.count, scalars[i] >= 48, scalars[i] <= 57 {
                        fraction += Double(scalars[i] - 48) * scale
                        scale /= 10
                        i += 1
                        any = true
                    }
                    if !any { return nil }
                }
            }
        }
        var zone: TimeZone? = defaultZone
        if i < scalars.count {
            if scalars[i] == UInt8(ascii: "Z") || scalars[i] == UInt8(ascii: "z") {
                i += 1
                zone = utc
            } else if scalars[i] == UInt8(ascii: "+") || scalars[i] == UInt8(ascii: "-") {
                let sign = scalars[i] == UInt8(ascii: "+") ? 1 : -1
                i += 1
                guard let oh = number(2) else { return nil }
                _ = expect(":")
                guard let om = number(2) else { return nil }
                zone = TimeZone(secondsFromGMT: sign * (oh * 3600 + om * 60))
            } else {
                return nil
            }
        }
        guard i == scalars.count, let zone else { return nil }
        guard (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61 else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let components = DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        guard let date = calendar.date(from: components) else { return nil }
        // Reject dates the calendar silently rolled over (2026-02-30).
        let back = calendar.dateComponents([.year, .month, .day], from: date)
        guard back.year == year, back.month == month, back.day == day else { return nil }
        return date.addingTimeInterval(fraction)
    }

    /// Parses a point in time for `--at`: an absolute time (see ``parseAbsolute(_:defaultZone:)``, local
    /// time when no zone is given) or a relative one counted back from `now`: `2h`, `3d`, `90m`, `2h ago`.
    public static func parsePointInTime(_ text: String, now: Date = Date(), zone: TimeZone = .current) throws -> Date {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "now" { return now }
        if let date = parseAbsolute(trimmed, defaultZone: zone) { return date }
        var relative = trimmed
        if relative.lowercased().hasSuffix(" ago") { relative = String(relative.dropLast(4)).trimmingCharacters(in: .whitespaces) }
        if let span = try? DurationText.parse(relative) { return now.addingTimeInterval(-span) }
        throw BackstopError.invalidInput(
            "cannot read the time '\(text)': use RFC 3339 (2026-11-22T10:00:00Z), a local time (2026-11-22 10:00), a time ago (2h, 3d), or now")
    }
}

/// Durations written as a number and a unit: `90s`, `30m`, `36h`, `14d`, `2w`, and combinations (`1d12h`).
public enum DurationText {
    /// The longest duration accepted: a thousand years.
    public static let maximum: TimeInterval = 1000 * 365 * 86400

    public static func parse(_ text: String) throws -> TimeInterval {
        let scalars = Array(text.trimmingCharacters(in: .whitespaces).lowercased())
        guard !scalars.isEmpty else { throw BackstopError.invalidInput("empty duration") }
        var total: TimeInterval = 0
        var i = 0
        while i < scalars.count {
            var digits = ""
            while i < scalars.count, scalars[i].isASCII, scalars[i].isNumber { digits.append(scalars[i]); i += 1 }
            var unit = ""
            while i < scalars.count, scalars[i].isLetter { unit.append(scalars[i]); i += 1 }
            guard let value = Double(digits), value.isFinite, !unit.isEmpty else {
                throw BackstopError.invalidInput("cannot read the duration '\(text)': write a number and a unit, such as 90s, 30m, 36h, 14d or 2w")
            }
            let seconds: Double
            switch unit {
            case "s", "sec", "secs", "second", "seconds": seconds = 1
            case "m", "min", "mins", "minute", "minutes": seconds = 60
            case "h", "hr", "hrs", "hour", "hours": seconds = 3600
            case "d", "day", "days": seconds = 86400
            case "w", "week", "weeks": seconds = 7 * 86400
            case "y", "year", "years": seconds = 365 * 86400
            default:
                throw BackstopError.invalidInput("unknown unit '\(unit)' in the duration '\(text)': use s, m, h, d, w or y")
            }
            total += value * seconds
        }
        guard total.isFinite, total <= maximum else {
            throw BackstopError.invalidInput("the duration '\(text)' is longer than \(Int(maximum / (365 * 86400))) years")
        }
        return total
    }

    /// `2h 5m`, `3d 4h`, `45s`: a short human form.
    public static func format(_ interval: TimeInterval) -> String {
        let s = Int(interval.rounded())
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m" + (s % 60 > 0 ? " \(s % 60)s" : "") }
        if s < 86400 { return "\(s / 3600)h" + ((s % 3600) / 60 > 0 ? " \((s % 3600) / 60)m" : "") }
        return "\(s / 86400)d" + ((s % 86400) / 3600 > 0 ? " \((s % 86400) / 3600)h" : "")
    }
}

/// Sizes written as `20GB`, `512MiB`, `2G`.
public enum ByteCount {
    public static func parse(_ text: String) throws -> Int64 {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let digits = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(digits.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let value = Double(digits), value.isFinite, value >= 0 else {
            throw BackstopError.invalidInput("cannot read the size '\(text)': write a number and a unit, such as 500MB or 20GB")
        }
        let multipliers: [String: Double] = [
            "": 1, "b": 1, "k": 1e3, "kb": 1e3, "kib": 1024, "m": 1e6, "mb": 1e6, "mib": 1_048_576,
            "g": 1e9, "gb": 1e9, "gib": 1_073_741_824, "t": 1e12, "tb": 1e12, "tib": 1_099_511_627_776,
        ]
        guard let multiplier = multipliers[unit] else {
            throw BackstopError.invalidInput("unknown unit '\(unit)' in the size '\(text)': use B, KB, MB, GB, TB (or KiB, MiB, GiB, TiB)")
        }
        let bytes = value * multiplier
        guard bytes.isFinite, bytes <= Double(maximum) else {
            throw BackstopError.invalidInput("the size '\(text)' is larger than Backstop handles (\(format(maximum)))")
        }
        return Int64(bytes)
    }

    /// The largest size accepted: 1 EiB.
    public static let maximum: Int64 = 1 << 60

    /// `1.2 GiB`, `340 KiB`, `12 B`.
    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while abs(value) >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return unit == 0 ? "\(bytes) B" : String(format: value >= 100 ? "%.0f" : "%.1f", value) + " " + units[unit]
    }
}
