import BackstopKit
import Foundation

enum LoadGenerator {
    /// Commits one row per transaction into `load` for `seconds`, printing "ready" after the first
    /// commit and the number of commits at the end. Exits non-zero on any error: tests use this to
    /// show that a snapshot never makes a writer fail.
    static func write(database: String, seconds: Double, rate: Double) throws {
        let db = try Database(path: database, mode: .readWrite, busyTimeout: 5)
        try db.execute("CREATE TABLE IF NOT EXISTS load(id INTEGER PRIMARY KEY, n INTEGER NOT NULL, payload TEXT NOT NULL)")
        let insert = try db.prepare("INSERT INTO load(n, payload) VALUES (?1, ?2)")
        let deadline = Date().addingTimeInterval(seconds)
        var count: Int64 = try db.int("SELECT count(*) FROM load")
        var first = true
        let interval = rate > 0 ? 1 / rate : 0
        var next = Date()
        while Date() < deadline {
            count += 1
            try insert.bind([.integer(count), .text(String(repeating: "x", count: 200) + String(count))])
            try insert.step()
            if first { print("ready"); fflush(nil); first = false }
            if interval > 0 {
                next = next.addingTimeInterval(interval)
                let wait = next.timeIntervalSinceNow
                if wait > 0 { usleep(useconds_t(wait * 1_000_000)) }
            }
        }
        print("commits \(count)")
    }

    /// A database of about `bytes`, shaped like an application's: users with text, events with JSON
    /// payloads, and indexes on both.
    static func generate(database: String, bytes: Int64) throws {
        if FileSystem.exists(database) { throw BackstopError.alreadyExists(path: database) }
        let db = try Database(path: database, mode: .create)
        try db.execute("""
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = OFF;
            CREATE TABLE users(id INTEGER PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, bio TEXT, created_at TEXT NOT NULL);
            CREATE TABLE events(id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), kind TEXT NOT NULL,
                                payload TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE INDEX events_by_user ON events(user_id, created_at);
            CREATE INDEX events_by_kind ON events(kind);
            """)
        // Text drawn from a Zipf-distributed vocabulary, as natural language is; JSON with the
        // repeated keys and small values of application logs; increasing timestamps.
        var random = SplitMix64(seed: 0x5eed)
        let syllables = ["ka", "lo", "mi", "ne", "ro", "ta", "shi", "ven", "dar", "el", "or", "tum", "pra", "gis", "nu", "bel"]
        let vocabulary: [String] = (0..<2000).map { i in
            var word = ""
            var n = i
            repeat { word += syllables[n % syllables.count]; n /= syllables.count } while n > 0
            return word
        }
        let cumulative: [Double] = {
            var total = 0.0
            return (1...vocabulary.count).map { rank in total += 1 / Double(rank); return total }
        }()
        func word() -> String {
            let x = random.nextDouble() * cumulative.last!
            var lo = 0, hi = cumulative.count - 1
            while lo < hi { let mid = (lo + hi) / 2; if cumulative[mid] < x { lo = mid + 1 } else { hi = mid } }
            return vocabulary[lo]
        }
        func sentence(_ count: Int) -> String { (0..<count).map { _ in word() }.joined(separator: " ") }
        let kinds = ["login", "logout", "view", "edit", "share", "comment", "upload", "download", "search", "purchase"]
        let userInsert = try db.prepare("INSERT INTO users(email, name, bio, created_at) VALUES (?1, ?2, ?3, ?4)")
        let eventInsert = try db.prepare("INSERT INTO events(user_id, kind, payload, created_at) VALUES (?1, ?2, ?3, ?4)")
        var users: Int64 = 0
        var events: Int64 = 0
        var batch = 0
        let start = Date(timeIntervalSince1970: 1_767_225_600)
        try db.execute("BEGIN")
        while true {
            users += 1
            let name = word().capitalized + " " + word().capitalized
            try userInsert.bind([.text("\(name.lowercased().replacingOccurrences(of: " ", with: "."))\(users)@example.com"), .text(name),
                                 .text(sentence(5 + Int(random.next() % 40))),
                                 .text(Timestamp.rfc3339(start.addingTimeInterval(Double(users) * 97)))])
            try userInsert.step()
            for _ in 0..<10 {
                events += 1
                let kind = kinds[Int(random.next() % UInt64(kinds.count))]
                let payload = """
                {"session":"\(String(random.next() & 0xffff_ffff_ffff, radix: 16))","path":"/\(word())/\(word())","status":\(random.next() % 20 == 0 ? 404 : 200),"duration_ms":\(random.next() % 900),"client":{"os":"\(["linux", "macos", "windows", "ios", "android"][Int(random.next() % 5)])","version":"2.\(random.next() % 12).\(random.next() % 30)"},"note":"\(sentence(3 + Int(random.next() % 20)))"}
                """
                try eventInsert.bind([.integer(users), .text(kind), .text(payload),
                                      .text(Timestamp.rfc3339(start.addingTimeInterval(Double(events) * 9.7)))])
                try eventInsert.step()
            }
            batch += 1
            if batch == 2000 {
                try db.execute("COMMIT")
                batch = 0
                if Int64(try db.pageCount) * Int64(try db.pageSize) >= bytes { break }
                try db.execute("BEGIN")
            }
        }
        try db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        print("generated \(database): \(ByteCount.format(Int64(try db.pageCount) * Int64(try db.pageSize))), \(users) users")
    }
}

/// A small, seedable random generator, so generated databases are the same on every run.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func nextDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
