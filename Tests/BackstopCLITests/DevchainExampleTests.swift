import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// The bundled devchain example, end to end, as the demo runs it.
final class DevchainExampleTests: BackstopTestCase {
    func devchain() throws -> String { try makeDevchain() }

    func testDevchainUpgradeEndToEndWithItsCounts() throws {
        let db = try devchain()
        XCTAssertEqual(try backstop(["baseline", "27", "-q"]).status, 0)

        // The guard refuses while sessions run: no snapshot, no change.
        let before = try contentDigest(db)
        let refused = try backstop(["migrate", "--yes"])
        XCTAssertEqual(refused.status, 7, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("the guard (guard.sql) refuses the migration"), refused.stderr)
        XCTAssertEqual(try contentDigest(db), before)
        XCTAssertEqual(try listed().count, 0)
        try execute(db, "UPDATE sessions SET status = 'completed', ended_at = '2026-02-01T00:00:00Z' WHERE status = 'running'")

        // What the migrations should do, computed independently.
        let live = try Database(path: db, mode: .readOnly)
        let withProvider = try live.int("SELECT count(*) FROM agent_profiles WHERE provider_id IS NOT NULL")
        let families = try live.int("SELECT count(*) FROM (SELECT DISTINCT project_id, family_slug FROM agent_profiles)")
        let profiles = try live.int("SELECT count(*) FROM agent_profiles")
        let agentsToRepoint = try live.int("""
            WITH ranked AS (SELECT id, first_value(id) OVER (PARTITION BY project_id, family_slug ORDER BY provider_id IS NULL, id) AS survivor
                            FROM agent_profiles)
            SELECT count(*) FROM agents a JOIN ranked r ON r.id = a.profile_id WHERE r.id != r.survivor
            """)
        XCTAssertGreaterThan(profiles - families, 50, "the sample has profiles to merge")
        XCTAssertGreaterThan(agentsToRepoint, 50, "the sample has agents to re-point")

        // Rehearsal, then the real run. The rehearsal changes nothing: the digest taken before it holds after it.
        let beforeRehearsal = try contentDigest(db)
        let rehearsed = try backstop(["migrate", "--dry-run", "--json"])
        XCTAssertEqual(rehearsed.status, 0, rehearsed.stderr)
        let rehearsal = try json(rehearsed) as! [String: Any]
        let rehearsedSteps = rehearsal["steps"] as! [[String: Any]]
        XCTAssertEqual(rehearsedSteps.map { $0["version"] as! Int }, [28, 29, 30])
        XCTAssertEqual(try contentDigest(db), beforeRehearsal, "the rehearsal changed the database")
        XCTAssertEqual(try listed().count, 0, "the rehearsal stored a snapshot")
        let migrated = try json(backstop(["migrate", "--yes", "--json"])) as! [String: Any]
        let steps = migrated["steps"] as! [[String: Any]]
        XCTAssertEqual(steps.map { $0["version"] as! Int }, [28, 29, 30])
        XCTAssertEqual(steps[0]["rows_changed"] as? Int64 ?? Int64(steps[0]["rows_changed"] as! Int), withProvider, "one config per profile with a provider")
        let snapshot = migrated["snapshot"] as! [String: Any]
        XCTAssertEqual(snapshot["kind"] as? String, "pre-migration")
        XCTAssertEqual(snapshot["schema_version"] as? Int, 27)
        XCTAssertEqual(snapshot["migrations"] as? [Int], [28, 29, 30])

        let after = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try after.int("SELECT count(*) FROM agent_profiles"), families, "\(profiles - families) profiles merged")
        XCTAssertEqual(try after.rows("PRAGMA foreign_key_check"), [])
        XCTAssertEqual(try after.int("""
            SELECT count(*) FROM agents a JOIN agent_profiles p ON p.id = a.profile_id
            WHERE p.provider_id IS NOT NULL AND a.provider_config_id IS NULL
            """), 0)
        // Agents re-pointed: compare with the pre-migration snapshot.
        let copied = try backstop(["restore", snapshot["id"] as! String, "--to", "before.db"])
        XCTAssertEqual(copied.status, 0, copied.stderr)
        try after.execute("ATTACH DATABASE '\(path("before.db"))' AS before")
        XCTAssertEqual(try after.int("SELECT count(*) FROM agents a JOIN before.agents b ON b.id = a.id WHERE a.profile_id != b.profile_id"),
                       agentsToRepoint)
        try after.execute("DETACH DATABASE before")

        let status = try json(backstop(["status", "--json"])) as! [String: Any]
        XCTAssertEqual(status["current_version"] as? Int, 30)
        XCTAssertEqual(try backstop(["verify", "--deep", "-q"]).status, 0)

        // Rollback returns data and history to the pre-run state.
        let rollback = try backstop(["rollback", "--yes"])
        XCTAssertEqual(rollback.status, 0, rollback.stderr)
        XCTAssertEqual(try contentDigest(db), try contentDigest(path("before.db")))
        XCTAssertEqual((try json(backstop(["status", "--json"])) as! [String: Any])["current_version"] as? Int, 27)
        let kinds = try listed().map { $0["kind"] as! String }
        XCTAssertEqual(kinds, ["pre-migration", "pre-restore"])
    }
}
