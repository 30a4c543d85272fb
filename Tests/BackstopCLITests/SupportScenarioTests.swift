import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// The devchain support runbook (examples/devchain/SUPPORT.md), end to end through the binary.
final class SupportScenarioTests: BackstopTestCase {
    func testRestoreAProfileThatTheMergeDeleted() throws {
        let db = try makeDevchain()
        XCTAssertEqual(try backstop(["baseline", "27", "-q"]).status, 0)
        try execute(db, "UPDATE sessions SET status = 'completed' WHERE status = 'running'")
        let migrated = try json(backstop(["migrate", "--yes", "--json"])) as! [String: Any]
        let snapshot = (migrated["snapshot"] as! [String: Any])["id"] as! String
        let agentsBefore = try count(db, "agents")

        // 1. Find it.
        let diff = try json(backstop(["diff", snapshot, "--json"])) as! [String: Any]
        let tables = diff["tables"] as! [[String: Any]]
        let profiles = try XCTUnwrap(tables.first { $0["table"] as? String == "agent_profiles" })
        XCTAssertGreaterThan(profiles["deleted"] as! Int, 100)
        XCTAssertEqual(profiles["inserted"] as? Int, 0)
        XCTAssertEqual(diff["schema"] as? String, "backstop.diff/1")
        XCTAssertEqual((diff["schema_changes"] as! [String: Any])["tables_added"] as? [String], ["profile_provider_configs"])
        let listed = try json(backstop(["diff", snapshot, "--table", "agent_profiles", "--json"])) as! [String: Any]
        let deleted = (((listed["tables"] as! [[String: Any]])[0]["rows"] as! [String: Any])["deleted"] as! [[String: Any]])
        let lost = try XCTUnwrap(deleted.first { $0["project_id"] as? Int == 1 && $0["name"] as? String == "planner-fast" })
        let profile = lost["id"] as! Int
        let survivor = try Database(path: path("devchain.db"), mode: .readOnly)
            .int("SELECT id FROM agent_profiles WHERE project_id = 1 AND family_slug = 'planner'")
        // The agents that 0029 moved from the lost profile to the survivor.
        let copied = try backstop(["restore", snapshot, "--to", "before.db"])
        XCTAssertEqual(copied.status, 0, copied.stderr)
        let moved = try Database(path: path("before.db"), mode: .readOnly).int("SELECT count(*) FROM agents WHERE profile_id = ?1", [.integer(Int64(profile))])
        XCTAssertGreaterThan(moved, 0)

        // 2. Pin.
        XCTAssertEqual(try backstop(["pin", snapshot, "--note", "ticket 4711", "-q"]).status, 0)

        // The injection attempt changes nothing.
        let before = try contentDigest(db)
        let injection = try backstop(["recover", snapshot, "--table", "agents", "--where", "1); DROP TABLE agents; --", "--yes"])
        XCTAssertEqual(injection.status, 2, injection.stderr)
        XCTAssertEqual(try contentDigest(db), before)

        // 3. Rehearse, then recover.
        let dry = try json(backstop(["recover", snapshot, "--table", "agent_profiles", "--where", "id = \(profile)", "--children", "--repoint", "--dry-run", "--json"])) as! [String: Any]
        XCTAssertEqual(dry["dry_run"] as? Bool, true)
        XCTAssertEqual((dry["repointed"] as! [Any]).count, Int(moved))
        XCTAssertEqual(try contentDigest(db), before)
        let needsYes = try backstop(["recover", snapshot, "--table", "agent_profiles", "--where", "id = \(profile)", "--children", "--repoint"])
        XCTAssertEqual(needsYes.status, 6)
        let done = try json(backstop(["recover", snapshot, "--table", "agent_profiles", "--where", "id = \(profile)", "--children", "--repoint", "--yes", "--json"])) as! [String: Any]
        XCTAssertEqual((done["pre_recover"] as? [String: Any])?["kind"] as? String, "pre-recover")
        let live = try Database(path: db, mode: .readOnly)
        XCTAssertEqual(try live.int("SELECT count(*) FROM agents WHERE profile_id = ?1", [.integer(Int64(profile))]), moved)
        XCTAssertEqual(try count(db, "agents"), agentsBefore)
        XCTAssertNotEqual(Int64(profile), survivor)

        // The recovered rows break 0028's and 0029's postconditions until they are brought up to date.
        let failing = try backstop(["check", "--postconditions", "--from", "28"])
        XCTAssertEqual(failing.status, 7)
        XCTAssertTrue(failing.stdout.contains("0029_merge_profiles_by_family_slug line"), failing.stdout)

        // 4. The runbook's SQL, as SUPPORT.md runs it.
        let sql = try run("/bin/sh", ["-c", "sqlite3 -bail devchain.db -cmd '.parameter set :profile_id \(profile)' < '\(BackstopTestCase.devchainExample)/support/after_recover_profile.sql'"])
        XCTAssertEqual(sql.status, 0, sql.stderr)

        // 5. Every verify query of 0028-0030 and PRAGMA foreign_key_check pass.
        let check = try backstop(["check", "--postconditions", "--from", "28"])
        XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
        XCTAssertEqual(try live.int("SELECT count(*) FROM agent_profiles WHERE id = ?1 AND provider_id IS NOT NULL", [.integer(Int64(profile))]), 1)
        XCTAssertEqual(try live.int("SELECT count(*) FROM agents WHERE profile_id = ?1 AND provider_config_id IS NULL", [.integer(Int64(profile))]), 0)
        XCTAssertEqual(try live.int("SELECT count(*) FROM profile_provider_configs WHERE profile_id = ?1", [.integer(Int64(profile))]), 1)
        // The pinned snapshot survives a prune that would otherwise remove it.
        try Data("keep_last = 1\n".utf8).write(to: URL(fileURLWithPath: path("policy.toml")))
        XCTAssertEqual(try backstop(["prune", "--policy", "policy.toml", "-q"]).status, 0)
        XCTAssertTrue(try self.listed().contains { $0["id"] as? String == snapshot })
    }
}
