import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class PruneCommandTests: BackstopTestCase {
    /// A store with snapshots of app.db at chosen times (manifests rewritten to those times).
    func storeWithSnapshots(ages: [TimeInterval], kind: SnapshotKind = .manual) throws -> SnapshotStore {
        if !FileSystem.exists(path("app.db")) { try makeDatabase(rows: 50) }
        let store = try SnapshotStore(path: path("app.db.backstop"), create: true)
        for age in ages {
            var manifest = try Snapshotter.take(database: path("app.db"), store: store, options: SnapshotOptions(kind: kind)).manifest
            manifest.createdAt = Timestamp.rfc3339(Date().addingTimeInterval(-age))
            try store.update(manifest)
        }
        return store
    }

    func testDryRunPrintsExactlyWhatTheRealRunRemovesAndASecondRunRemovesNothing() throws {
        let store = try storeWithSnapshots(ages: [40, 30, 20, 10, 5].map { $0 * 86400 } + [3600, 60])
        _ = try writePolicy("keep_last = 2\nkeep_weekly = 2\n")
        let dry = try json(backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--dry-run", "--json"])) as! [String: Any]
        let wouldRemove = (dry["remove"] as! [[String: Any]]).map { ($0["snapshot"] as! [String: Any])["id"] as! String }
        XCTAssertEqual(try store.scan().snapshots.count, 7, "a dry run removes nothing")
        XCTAssertFalse(wouldRemove.isEmpty)
        let real = try json(backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--json"])) as! [String: Any]
        XCTAssertEqual((real["remove"] as! [[String: Any]]).map { ($0["snapshot"] as! [String: Any])["id"] as! String }, wouldRemove)
        XCTAssertEqual((real["keep"] as! [[String: Any]]).first?["reasons"] as? [String] != nil, true)
        XCTAssertEqual(try store.scan().snapshots.count, 7 - wouldRemove.count)
        let again = try json(backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--json"])) as! [String: Any]
        XCTAssertEqual((again["remove"] as! [Any]).count, 0)
        XCTAssertEqual(try backstop(["verify", "--db", "app.db", "--deep", "-q"]).status, 0)
    }

    func testQuietPruneForCronAndHumanOutputWithReasons() throws {
        _ = try storeWithSnapshots(ages: [3 * 86400, 2 * 86400, 60])
        _ = try writePolicy("keep_daily = 2\n")
        let human = try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--dry-run"])
        XCTAssertEqual(human.status, 0, human.stderr)
        XCTAssertTrue(human.stdout.contains("newest, daily "), human.stdout)
        XCTAssertTrue(human.stdout.contains("would remove"), human.stdout)
        XCTAssertTrue(human.stdout.contains("Would remove 1 snapshot"), human.stdout)
        let quiet = try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--quiet"])
        XCTAssertEqual(quiet.status, 0)
        XCTAssertEqual(quiet.stdout + quiet.stderr, "")
    }

    func testPinnedSnapshotsSurvivePruneAndListShowsThePinNote() throws {
        let store = try storeWithSnapshots(ages: [30 * 86400, 20 * 86400, 60])
        let oldest = try store.scan().snapshots.sorted { $0.createdAt < $1.createdAt }[0]
        let pin = try backstop(["pin", oldest.id, "--db", "app.db", "--note", "ticket 4711"])
        XCTAssertEqual(pin.status, 0, pin.stderr)
        _ = try writePolicy("keep_last = 1\n")
        XCTAssertEqual(try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "-q"]).status, 0)
        let remaining = try store.scan().snapshots.map(\.id)
        XCTAssertEqual(remaining.count, 2)
        XCTAssertTrue(remaining.contains(oldest.id))
        XCTAssertTrue(try backstop(["list", "--db", "app.db"]).stdout.contains("yes (ticket 4711)"))
        XCTAssertEqual(try backstop(["unpin", oldest.id, "--db", "app.db", "-q"]).status, 0)
        XCTAssertEqual(try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "-q"]).status, 0)
        XCTAssertEqual(try store.scan().snapshots.count, 1)
    }

    func testPruneWaitsForASnapshotBeingWrittenAndNeverTripsOverIt() throws {
        _ = try storeWithSnapshots(ages: [10 * 86400, 5 * 86400])
        try makeDatabase("big.db", rows: 50_000)
        _ = try writePolicy("keep_last = 1\n")
        // A snapshot stopped in the middle of writing its data file holds the store (shared).
        let writer = try backstopStopped(at: "snapshot.mid-write", ["snapshot", "--db", "big.db", "--store", "app.db.backstop", "--level", "1"])
        let locked = try backstop(["prune", "--store", "app.db.backstop", "--policy", "policy.toml", "--lock-wait", "0.5"])
        XCTAssertEqual(locked.status, 5, locked.stderr)
        let prune = try spawnBackstop(["prune", "--store", "app.db.backstop", "--policy", "policy.toml", "--lock-wait", "60"])
        writer.resume()
        XCTAssertEqual(writer.wait().status, 0, writer.stderr)
        XCTAssertEqual(prune.wait().status, 0, prune.stderr)
        let verify = try backstop(["verify", "--store", "app.db.backstop", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stdout)
        let store = try SnapshotStore(path: path("app.db.backstop"), create: false)
        // Each database keeps its newest snapshot: the one being written was never judged half-written.
        XCTAssertEqual(Set(try store.scan().snapshots.map(\.database)), [path("app.db"), path("big.db")])
        XCTAssertEqual(try store.scan().snapshots.count, 2)
    }

    func testPruneExitsLockedWhileAnotherRunHoldsTheStore() throws {
        let store = try storeWithSnapshots(ages: [86400, 60])
        _ = try writePolicy("keep_last = 1\n")
        let held = try store.lock(.shared, wait: 0)
        let result = try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--lock-wait", "0.5"])
        XCTAssertEqual(result.status, 5, result.stderr)
        held.release()
        XCTAssertEqual(try store.scan().snapshots.count, 2)
    }

    func testAStaleLockFromAKilledPruneIsTakenOver() throws {
        _ = try storeWithSnapshots(ages: [86400, 60])
        _ = try writePolicy("keep_last = 1\n")
        // A prune killed while holding the lock: its record stays, the kernel drops its flock.
        let victim = try start("/bin/sleep", ["30"])
        try Data("pid=\(victim.processIdentifier)\ncommand=backstop prune\nsince=2026-11-22T03:00:00.000Z\n".utf8)
            .write(to: URL(fileURLWithPath: path("app.db.backstop/lock")))
        kill(victim.processIdentifier, SIGKILL)
        victim.waitUntilExit()
        let result = try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--lock-wait", "1"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stderr.contains("took over the lock on the snapshot store"), result.stderr)
    }

    func testKillDuringPruneLeavesOnlyVerifyingSnapshotsAndPruneConverges() throws {
        _ = try storeWithSnapshots(ages: (1...40).map { Double($0) * 3600 })
        _ = try writePolicy("keep_last = 3\n")
        var remaining = 40
        for removal in [1, 2, 5] {
            try backstopKilled(at: "prune.after-remove@\(removal)", ["prune", "--db", "app.db", "--policy", "policy.toml", "-q"])
            remaining -= removal
            XCTAssertEqual(try listed(["--db", "app.db"]).count, remaining, "killed after removal \(removal)")
            XCTAssertEqual(try backstop(["verify", "--db", "app.db"]).status, 0)
        }
        XCTAssertEqual(try backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "-q"]).status, 0)
        let again = try json(backstop(["prune", "--db", "app.db", "--policy", "policy.toml", "--json"])) as! [String: Any]
        XCTAssertEqual((again["remove"] as! [Any]).count, 0)
        XCTAssertEqual((again["keep"] as! [Any]).count, 3)
    }

    func testPolicyExplainAndCheckFromTheCommandLine() throws {
        _ = try writePolicy("keep_daily = 2\n[pre_migration]\nkeep_last = 1\n")
        try Data("""
        2026-11-20T03:00:00Z
        2026-11-20T09:00:00Z pre-migration
        2026-11-21T03:00:00Z
        # a comment
        2026-11-21T05:00:00Z pinned
        2026-11-21T09:00:00Z pre-migration
        """.utf8).write(to: URL(fileURLWithPath: path("input.txt")))
        let explained = try json(backstop(["policy", "explain", "policy.toml", "--input", "input.txt", "--now", "2026-11-22T00:00:00Z", "--json"])) as! [String: Any]
        let keep = explained["keep"] as! [[String: Any]]
        let remove = explained["remove"] as! [[String: Any]]
        XCTAssertEqual(keep.map { $0["line"] as! Int }, [1, 3, 5, 6])
        XCTAssertEqual(remove.map { $0["line"] as! Int }, [2])
        XCTAssertEqual(keep[0]["reasons"] as? [String], ["daily 2026-11-20"])
        XCTAssertEqual(keep[3]["kind"] as? String, "pre-migration")
        XCTAssertEqual(keep[3]["reasons"] as? [String], ["newest", "pre-migration: last 1"])
        let check = try backstop(["policy", "check", "policy.toml"])
        XCTAssertEqual(check.status, 0)
        XCTAssertTrue(check.stdout.contains("pre-migration snapshots, judged on their own: keep the last 1."), check.stdout)
        try Data("keep_dialy = 2\n".utf8).write(to: URL(fileURLWithPath: path("bad.toml")))
        let bad = try backstop(["policy", "check", "bad.toml"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.stderr.contains("bad.toml:1: keep_dialy: unknown key"), bad.stderr)
    }
}
