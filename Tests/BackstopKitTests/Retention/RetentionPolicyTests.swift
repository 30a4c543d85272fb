import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class RetentionPolicyTests: BackstopTestCase {
    func policy(_ text: String) throws -> RetentionPolicy {
        try RetentionPolicy.parse(try TOMLDocument.parse(text, file: "p.toml"))
    }

    func testShippedPoliciesAreValid() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("policies").path
        for name in ["default.toml", "hourly-cron.toml", "compliance.toml"] {
            let loaded = try RetentionPolicy.load(path: folder + "/" + name)
            XCTAssertNotNil(loaded.kinds[.preMigration], name)
        }
    }

    func testErrorsNameTheFileTheKeyAndTheLine() {
        let cases: [(String, String)] = [
            ("keep_last = 3\nkeep_dialy = 7\n", "p.toml:2: keep_dialy: unknown key"),
            ("keep_daily = -1\n", "p.toml:1: keep_daily: must not be negative (got -1)"),
            ("keep_daily = \"lots\"\n", "p.toml:1: keep_daily: must be a count (0 or more) or \"unlimited\""),
            ("keep_within = \"14 fortnights\"\n", "p.toml:1: keep_within: cannot read the duration"),
            ("keep_within = 14\n", "p.toml:1: keep_within: must be a duration in quotes"),
            ("timezone = \"Mars/Olympus\"\nkeep_last = 1\n", "p.toml:1: timezone: unknown time zone \"Mars/Olympus\""),
            ("keep_last = 1\nmax_total_size = \"huge\"\n", "p.toml:2: max_total_size: cannot read the size"),
            ("keep_last = 1\n[pre_migraton]\nkeep_last = 1\n", "p.toml:2: [pre_migraton]: unknown section"),
            ("keep_last = 1\n[pre_migration]\ntimezone = \"UTC\"\n", "p.toml:3: timezone: unknown key in [pre_migration]"),
            ("# nothing\n", "p.toml: the policy is empty"),
            ("keep_last = 0\nkeep_daily = 0\n", "p.toml: the policy would remove every snapshot"),
        ]
        for (text, expected) in cases {
            XCTAssertThrowsError(try policy(text), text) { error in
                XCTAssertTrue("\(error)".hasPrefix(expected), "\(error)\nshould start with: \(expected)")
            }
        }
    }

    func testKindsAndUnlimited() throws {
        let p = try policy("keep_yearly = \"unlimited\"\ntimezone = \"Europe/Paris\"\n[pre_restore]\nkeep_within = \"7d\"\n")
        XCTAssertEqual(p.regular.buckets[.yearly], .unlimited)
        XCTAssertEqual(p.timeZone.identifier, "Europe/Paris")
        XCTAssertEqual(p.kinds[.preRestore]?.keepWithin, 7 * 86400)
        XCTAssertEqual(p.rules(for: .preRecover), p.regular, "a kind without a section follows the regular rules")
    }

    func testEachDatabaseIsJudgedSeparately() throws {
        let p = try policy("keep_last = 2\n")
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        var items: [RetentionItem] = []
        // Database A: an old snapshot; database B: many recent ones. B must not push out A's.
        items.append(RetentionItem(id: "a1", time: now.addingTimeInterval(-100 * 86400), database: "/a.db"))
        for i in 0..<10 { items.append(RetentionItem(id: "b\(i)", time: now.addingTimeInterval(Double(-i) * 3600), database: "/b.db")) }
        let result = Retention.apply(p, to: items, now: now)
        XCTAssertEqual(Set(result.keep.map(\.item.id)), ["a1", "b0", "b1"])
        XCTAssertEqual(result.keep.first { $0.item.id == "a1" }?.reasons, ["newest", "last 2"])
    }

    func testTheNewestSnapshotIsNeverRemovedEvenOverTheSizeCap() throws {
        let p = try policy("keep_last = 1\nmax_total_size = \"1KB\"\n")
        let now = Date()
        let items = (0..<3).map { RetentionItem(id: "s\($0)", time: now.addingTimeInterval(Double(-$0)), bytes: 10_000) }
        let result = Retention.apply(p, to: items, now: now)
        XCTAssertEqual(result.keep.map(\.item.id), ["s0"])
    }

    func testDecidingOverTenThousandSnapshotsIsDeterministic() throws {
        let p = try RetentionPolicy.parse(try TOMLDocument.parse("""
            keep_last = 10
            keep_hourly = 48
            keep_daily = 30
            keep_weekly = 12
            keep_monthly = 24
            timezone = "Europe/Paris"
            [pre_migration]
            keep_last = 5
            """, file: "p.toml"))
        let start = Date(timeIntervalSince1970: 1_767_225_600)
        let items = (0..<10_000).map { i in
            RetentionItem(id: String(format: "%08d", i), time: start.addingTimeInterval(Double(i) * 3600), kind: i % 97 == 0 ? .preMigration : .manual)
        }
        let now = start.addingTimeInterval(10_000 * 3600)
        let first = Retention.apply(p, to: items, now: now)
        XCTAssertEqual(first, Retention.apply(p, to: items.reversed(), now: now))
        XCTAssertEqual(first.keep.count + first.remove.count, 10_000)
        // Applying the policy to what it kept removes nothing more.
        XCTAssertEqual(Retention.apply(p, to: first.keep.map(\.item), now: now).remove.count, 0)
    }
}
