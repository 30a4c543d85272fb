import BackstopKit
import Foundation
import XCTest

final class TimeTests: XCTestCase {
    let utc = TimeZone(identifier: "UTC")!

    func testIDsAndTimestampsAreUTCWithMilliseconds() {
        let date = Date(timeIntervalSince1970: 1_795_342_500.123)   // 2026-11-22T10:15:00.123Z
        XCTAssertEqual(Timestamp.compactID(date), "20261122T101500123Z")
        XCTAssertEqual(Timestamp.rfc3339(date), "2026-11-22T10:15:00.123Z")
        XCTAssertEqual(Timestamp.parseRFC3339("2026-11-22T10:15:00.123Z")!.timeIntervalSince1970, 1_795_342_500.123, accuracy: 0.0005)
    }

    func testPointInTimeAcceptsRFC3339LocalAndRelativeTimes() throws {
        let now = Date(timeIntervalSince1970: 1_795_342_500)
        let paris = TimeZone(identifier: "Europe/Paris")!
        XCTAssertEqual(try Timestamp.parsePointInTime("2026-11-22T10:00:00Z", now: now, zone: paris),
                       Date(timeIntervalSince1970: 1_795_341_600))
        XCTAssertEqual(try Timestamp.parsePointInTime("2026-11-22T11:00:00+01:00", now: now, zone: utc),
                       Date(timeIntervalSince1970: 1_795_341_600))
        // Local time: Paris is UTC+1 in November.
        XCTAssertEqual(try Timestamp.parsePointInTime("2026-11-22 11:00", now: now, zone: paris),
                       Date(timeIntervalSince1970: 1_795_341_600))
        XCTAssertEqual(try Timestamp.parsePointInTime("2h", now: now, zone: utc), now.addingTimeInterval(-7200))
        XCTAssertEqual(try Timestamp.parsePointInTime("3d ago", now: now, zone: utc), now.addingTimeInterval(-3 * 86400))
        XCTAssertEqual(try Timestamp.parsePointInTime("1d12h", now: now, zone: utc), now.addingTimeInterval(-36 * 3600))
        for bad in ["yesterday", "2026-13-01", "2026-02-30 10:00", "10:00", "2h later", ""] {
            XCTAssertThrowsError(try Timestamp.parsePointInTime(bad, now: now, zone: utc), bad)
        }
    }

    func testDurationsAndSizes() throws {
        XCTAssertEqual(try DurationText.parse("36h"), 36 * 3600)
        XCTAssertEqual(try DurationText.parse("14d"), 14 * 86400)
        XCTAssertThrowsError(try DurationText.parse("14 fortnights"))
        XCTAssertEqual(try ByteCount.parse("20GB"), 20_000_000_000)
        XCTAssertEqual(try ByteCount.parse("512MiB"), 512 * 1_048_576)
        XCTAssertThrowsError(try ByteCount.parse("lots"))
        XCTAssertEqual(ByteCount.format(1536), "1.5 KiB")
    }
}
