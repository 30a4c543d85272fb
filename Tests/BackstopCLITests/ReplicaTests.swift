import BackstopCodec
import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Off-site replicas end to end: the real binary against SeaweedFS on 127.0.0.1, including the failures
/// off-site copies meet (a server killed mid-upload, dropped connections, wrong credentials, a missing
/// bucket, a wrong clock).
final class ReplicaTests: BackstopTestCase {
    nonisolated(unsafe) static var server: S3TestServer?
    var bucket = ""
    var server: S3TestServer { ReplicaTests.server! }

    override class func setUp() {
        super.setUp()
        server = S3TestServer.forTestClass("cli")
    }

    override class func tearDown() {
        server?.discard()
        server = nil
        super.tearDown()
    }

    override func setUpWithError() throws {
        try super.setUpWithError()
        guard ReplicaTests.server != nil else { throw BackstopError.failed("the S3 test server did not start (see make test-deps)") }
        bucket = "c-\(UUID().uuidString.prefix(8).lowercased())"
        try server.makeBucket(bucket)
        try Data("""
            db = "app.db"
            policy = "keep.toml"

            [replicas.offsite]
            url = "s3://\(bucket)/backups/app"
            """.utf8).write(to: URL(fileURLWithPath: path("backstop.toml")))
        try Data("keep_last = 10\n".utf8).write(to: URL(fileURLWithPath: path("keep.toml")))
    }

    func run(_ arguments: [String], _ extra: [String: String] = [:], endpoint: String? = nil) throws -> RunResult {
        var env = server.environment()
        if let endpoint { env["AWS_ENDPOINT_URL"] = endpoint }
        return try backstop(arguments, environment: env.merging(extra) { $1 })
    }

    /// A database of about 20 MiB of incompressible rows: uploaded in three parts.
    func makeLargeDatabase() throws {
        try makeDatabase(rows: 100)
        try execute(path("app.db"), """
            CREATE TABLE noise(id INTEGER PRIMARY KEY, b BLOB);
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) INSERT INTO noise(b) SELECT randomblob(4000) FROM n;
            """)
    }

    /// The disaster case: the machine (and its local store) is gone; a new one restores from the replica.
    func testSnapshotIsPushedAndRestoredOnANewMachine() throws {
        try makeDatabase(rows: 2000)
        let snap = try run(["snapshot", "--json"])
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let snapshotDocument = try document(snap, schema: "snapshot")
        let id = (snapshotDocument["snapshot"] as! [String: Any])["id"] as! String
        let pushed = snapshotDocument["pushed"] as! [[String: Any]]
        XCTAssertEqual(pushed.count, 1)
        XCTAssertEqual(pushed[0]["pushed"] as? [String], [id])
        XCTAssertEqual(pushed[0]["location"] as? String, "s3://\(bucket)/backups/app")
        let digest = try contentDigest(path("app.db"))

        for name in ["app.db.backstop", "app.db", "app.db-wal", "app.db-shm"] where FileManager.default.fileExists(atPath: path(name)) {
            try FileManager.default.removeItem(atPath: path(name))
        }
        let list = try run(["list", "--from", "offsite", "--json"])
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertEqual((try document(list, schema: "list")["snapshots"] as! [[String: Any]]).map { $0["id"] as! String }, [id])
        let verify = try run(["verify", "--from", "offsite", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("ok      \(id)  deep"), verify.stdout)
        // No config, no local store: an s3:// URL and the environment are enough.
        try FileManager.default.removeItem(atPath: path("backstop.toml"))
        let restore = try run(["restore", "--from", "s3://\(bucket)/backups/app", "--latest", "--db", path("app.db"), "--to", path("app.db")])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try contentDigest(path("app.db")), digest)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("app.db.backstop")), "a restore to a file created a local store")
        let query = try run(["query", "--from", "s3://\(bucket)/backups/app", id, "SELECT count(*) FROM items", "--db", path("app.db"), "--json"])
        XCTAssertEqual(query.status, 0, query.stderr)
        XCTAssertTrue(query.stdout.contains("2000"), query.stdout)
    }

    /// Encrypted snapshots are pushed as they are stored (the replica never sees plaintext) and read back
    /// from the replica with the identity; without it, nothing is restored and the status is 9.
    func testEncryptedSnapshotsArePushedAsStored() throws {
        try makeDatabase(rows: 300)
        let key = try backstop(["key", "generate", path("key.txt")])
        XCTAssertEqual(key.status, 0, key.stderr)
        let recipient = key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        try Data("""
            db = "app.db"
            recipients = ["\(recipient)"]

            [replicas.offsite]
            url = "s3://\(bucket)/enc"
            """.utf8).write(to: URL(fileURLWithPath: path("backstop.toml")))
        let snap = try run(["snapshot"])
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let id = snap.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let object = try server.client(bucket: bucket).get("enc/\(id).sqlite.gz.age")
        XCTAssertEqual(object.map { String(decoding: $0.prefix(21), as: UTF8.self) }, "age-encryption.org/v1")
        let refused = try run(["restore", "--from", "offsite", id, "--to", path("copy.db")])
        XCTAssertEqual(refused.status, 9, refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("copy.db")))
        let restore = try run(["restore", "--from", "offsite", id, "--to", path("copy.db"), "--identity", path("key.txt")])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try contentDigest(path("copy.db")), try contentDigest(path("app.db")))
        let verify = try run(["verify", "--from", "offsite", "--deep", "--identity", path("key.txt")])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// A new key pair; returns its public key.
    func generateKey(_ file: String) throws -> String {
        let key = try backstop(["key", "generate", path(file)])
        XCTAssertEqual(key.status, 0, key.stderr)
        return key.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func writeConfig(_ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path("backstop.toml")))
    }

    /// One replica, `offsite` at s3://BUCKET/PREFIX, whose own policy keeps the last snapshot only (the
    /// local store keeps 10).
    func writeReplicaKeepingOne(prefix: String) throws {
        try Data("keep_last = 1\n".utf8).write(to: URL(fileURLWithPath: path("offsite.toml")))
        try writeConfig("""
            db = "app.db"
            policy = "keep.toml"

            [replicas.offsite]
            url = "s3://\(bucket)/\(prefix)"
            policy = "offsite.toml"
            """)
    }

    /// One replica, `offsite` at s3://BUCKET/enc, encrypting to `recipient`; with `identity`, its table
    /// names offsite.key to read it.
    func writeEncryptedReplicaConfig(recipient: String, identity: Bool) throws {
        try writeConfig("""
            db = "app.db"

            [replicas.offsite]
            url = "s3://\(bucket)/enc"
            recipients = ["\(recipient)"]
            """ + (identity ? "\nidentity = \"offsite.key\"\n" : "\n"))
    }

    /// A replica with recipients of its own gets every snapshot encrypted to them as it is uploaded (in
    /// parts, for a large one), while the local store keeps its plain files and nothing is written beside
    /// them; standard tools (age, gzip) read the replica's copy with the replica's key, and Backstop reads it
    /// with the identity its table names.
    func testAReplicaWithItsOwnRecipientsGetsEncryptedCopies() throws {
        try makeLargeDatabase()
        let recipient = try generateKey("offsite.key")
        try writeEncryptedReplicaConfig(recipient: recipient, identity: false)
        let snap = try run(["snapshot", "--json"])
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let snapshotDocument = try document(snap, schema: "snapshot")
        let local = snapshotDocument["snapshot"] as! [String: Any]
        let id = local["id"] as! String
        let pushed = (snapshotDocument["pushed"] as! [[String: Any]])[0]
        XCTAssertEqual(pushed["pushed"] as? [String], [id])
        XCTAssertEqual(pushed["encrypted_for_replica"] as? [String], [id])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: path("app.db.backstop")).sorted(),
                       ["\(id).json", "\(id).sqlite.gz", "journal.jsonl", "lock", "sequence"].sorted(),
                       "the local store holds something else than its plain snapshot")

        let client = try server.client(bucket: bucket)
        XCTAssertEqual(try client.list(prefix: "enc/").map(\.key).sorted(), ["enc/\(id).json", "enc/\(id).sqlite.gz.age"])
        let manifest = try JSONSerialization.jsonObject(with: try XCTUnwrap(client.get("enc/\(id).json"))) as! [String: Any]
        XCTAssertEqual(manifest["file"] as? String, "\(id).sqlite.gz.age")
        XCTAssertEqual(manifest["sha256"] as? String, local["sha256"] as? String)
        let encryption = try XCTUnwrap(manifest["encryption"] as? [String: Any])
        XCTAssertEqual(encryption["recipients"] as? [String], [recipient])
        XCTAssertEqual(encryption["gzip_sha256"] as? String, local["compressed_sha256"] as? String)
        XCTAssertNotEqual(manifest["compressed_sha256"] as? String, local["compressed_sha256"] as? String)
        // age then gzip, with the replica's key, give the image; the file is the one the manifest describes.
        let object = try XCTUnwrap(client.get("enc/\(id).sqlite.gz.age"))
        XCTAssertEqual(Int64(object.count), (manifest["compressed_bytes"] as? NSNumber)?.int64Value)
        try object.write(to: URL(fileURLWithPath: path("copy.age")))
        let image = try run("/bin/sh", ["-c", "age -d -i offsite.key copy.age | gzip -dc | sha256sum; sha256sum < copy.age"])
        XCTAssertEqual(image.status, 0, image.stderr)
        let sums = image.stdout.split(separator: "\n").map { String($0.prefix(64)) }
        XCTAssertEqual(sums, [local["sha256"] as! String, manifest["compressed_sha256"] as! String])

        // Read back: without the key nothing is restored (9); with the replica's identity in its table,
        // verify --deep and restore work.
        let refused = try run(["restore", "--from", "offsite", id, "--to", path("copy.db")])
        XCTAssertEqual(refused.status, 9, refused.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("copy.db")))
        try writeEncryptedReplicaConfig(recipient: recipient, identity: true)
        let verify = try run(["verify", "--from", "offsite", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        let restore = try run(["restore", "--from", "offsite", id, "--to", path("copy.db")])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        let restored = SHA256Hasher()
        restored.update(try Data(contentsOf: URL(fileURLWithPath: path("copy.db"))))
        XCTAssertEqual(restored.finalizeHex(), local["sha256"] as? String, "the restored file is not the snapshot's image")
        let again = try run(["push", "--json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        XCTAssertEqual((try document(again)["replicas"] as! [[String: Any]])[0]["already_there"] as? [String], [id])
    }

    /// A store encrypted to one key and a replica to another: the push decrypts with the store's identity on
    /// the way, and refuses (9, nothing listed) without it. A replica encrypting to the store's own keys gets
    /// the stored file as it is.
    func testReencryptingForAReplicaNeedsTheStoresIdentity() throws {
        try makeDatabase(rows: 500)
        let storeKey = try generateKey("store.key")
        let replicaKey = try generateKey("offsite.key")
        try writeConfig("""
            db = "app.db"
            recipients = ["\(storeKey)"]

            [replicas.offsite]
            url = "s3://\(bucket)/other"
            recipients = ["\(replicaKey)"]

            [replicas.same]
            url = "s3://\(bucket)/same"
            recipients = ["\(storeKey)"]
            """)
        let id = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        let refused = try run(["push", "--to", "offsite"])
        XCTAssertEqual(refused.status, 9, refused.stderr)
        XCTAssertTrue(refused.stderr.contains("snapshot \(id) is encrypted (to \(storeKey)) and no key was given to decrypt it"), refused.stderr)
        XCTAssertTrue(refused.stderr.contains("--identity FILE"), refused.stderr)
        let client = try server.client(bucket: bucket)
        XCTAssertEqual(try client.list(prefix: "other/").map(\.key), [], "something was uploaded")

        // The replica's URL means the configured replica: no copy goes there as stored.
        let byURL = try run(["push", "--to", "s3://\(bucket)/other"])
        XCTAssertEqual(byURL.status, 9, byURL.stderr)
        let push = try run(["push", "--json", "--identity", path("store.key")])
        XCTAssertEqual(push.status, 0, push.stderr)
        let replicas = try document(push, schema: "push")["replicas"] as! [[String: Any]]
        XCTAssertEqual(replicas.map { $0["name"] as! String }, ["offsite", "same"])
        XCTAssertEqual(replicas.map { $0["pushed"] as! [String] }, [[id], [id]])
        XCTAssertEqual(replicas.map { $0["encrypted_for_replica"] as! [String] }, [[id], []])
        // The replica's copy opens with its own key only.
        let withStoreKey = try run(["restore", "--from", "offsite", id, "--to", path("copy.db"), "--identity", path("store.key")])
        XCTAssertEqual(withStoreKey.status, 9, withStoreKey.stderr)
        let withReplicaKey = try run(["restore", "--from", "offsite", id, "--to", path("copy.db"), "--identity", path("offsite.key")])
        XCTAssertEqual(withReplicaKey.status, 0, withReplicaKey.stderr)
        XCTAssertEqual(try contentDigest(path("copy.db")), try contentDigest(path("app.db")))
        // Same keys: the very file the store holds.
        let stored = try Data(contentsOf: URL(fileURLWithPath: path("app.db.backstop/\(id).sqlite.gz.age")))
        XCTAssertEqual(try client.get("same/\(id).sqlite.gz.age"), stored)
    }

    /// A push encrypting for the replica, killed mid-upload: its parts hold bytes no other run can produce
    /// again, so the next push starts over (none reused), leaves no unfinished upload, and the copy verifies.
    func testAnInterruptedEncryptedPushStartsOver() throws {
        try makeLargeDatabase()
        let recipient = try generateKey("offsite.key")
        try writeEncryptedReplicaConfig(recipient: recipient, identity: true)
        let id = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        var env = server.environment()
        env["BACKSTOP_FAULT"] = "push.after-part:stop"
        let child = try spawnBackstop(["push"], environment: env)
        XCTAssertTrue(child.waitUntilStopped(), "push never reached a part: \(child.stderr)")
        child.signal(SIGKILL)
        XCTAssertEqual(child.wait().signal, SIGKILL)
        let client = try server.client(bucket: bucket)
        XCTAssertEqual(try client.listMultipartUploads(prefix: "enc/").count, 1, "no upload was under way when the push was killed")

        let push = try run(["push", "--json"])
        XCTAssertEqual(push.status, 0, push.stderr)
        let replica = (try document(push)["replicas"] as! [[String: Any]])[0]
        XCTAssertEqual(replica["pushed"] as? [String], [id])
        XCTAssertEqual(replica["resumed_parts"] as? Int, 0)
        XCTAssertEqual(try client.listMultipartUploads(prefix: "enc/").count, 0, "the interrupted upload was left behind")
        let verify = try run(["verify", "--from", "offsite", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// A replica encrypted with a passphrase of its own: the copy is age's scrypt kind (one recipient,
    /// "passphrase"), and the replica's passphrase file reads it back.
    func testAReplicaWithItsOwnPassphrase() throws {
        try makeDatabase(rows: 200)
        try Data("correct horse battery staple\n".utf8).write(to: URL(fileURLWithPath: path("offsite.pass")))
        try writeConfig("""
            db = "app.db"

            [replicas.offsite]
            url = "s3://\(bucket)/pass"
            """)
        let before = try takeSnapshot("app.db", [], environment: server.environment())
        try execute(path("app.db"), "INSERT INTO items(name) VALUES ('later')")
        try writeConfig("""
            db = "app.db"

            [replicas.offsite]
            url = "s3://\(bucket)/pass"
            passphrase_file = "offsite.pass"
            passphrase_work_factor = 10
            """)
        let snap = try run(["snapshot"])
        XCTAssertEqual(snap.status, 0, snap.stderr)
        let id = snap.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        // The copy pushed before the replica had a passphrase is named, not rewritten.
        let push = try run(["push"])
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertTrue(push.stderr.contains("offsite holds 1 snapshot not encrypted to its recipients (pushed before they were set): \(before); they stay as they are until pruned"), push.stderr)
        let manifest = try JSONSerialization.jsonObject(with: try XCTUnwrap(try server.client(bucket: bucket).get("pass/\(id).json"))) as! [String: Any]
        XCTAssertEqual((manifest["encryption"] as? [String: Any])?["recipients"] as? [String], ["passphrase"])
        let restore = try run(["restore", "--from", "offsite", id, "--to", path("copy.db")])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try contentDigest(path("copy.db")), try contentDigest(path("app.db")))
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("app.db.backstop/\(id).sqlite.gz")), "the local snapshot is not plain")
    }

    /// A pin set by support staff protects the off-site copy too: the replica's manifest carries it, so
    /// the replica's own prune keeps the snapshot; unpinning lets it go. A replica that cannot be reached
    /// leaves the local pin set and says so (exit 1).
    func testPinsReachTheReplica() throws {
        try makeDatabase(rows: 10)
        try writeReplicaKeepingOne(prefix: "pins")
        let first = try takeSnapshot("app.db", [], environment: server.environment())
        try execute(path("app.db"), "INSERT INTO items(name) VALUES ('later')")
        let second = try takeSnapshot("app.db", [], environment: server.environment())
        let pin = try run(["pin", first, "--note", "TICKET-7"])
        XCTAssertEqual(pin.status, 0, pin.stderr)
        XCTAssertEqual(pin.stdout, "pinned \(first) (TICKET-7)\n")
        XCTAssertTrue(pin.stderr.contains("pinned on offsite (s3://\(bucket)/pins) too"), pin.stderr)
        let client = try server.client(bucket: bucket)
        let there = try JSONSerialization.jsonObject(with: try XCTUnwrap(client.get("pins/\(first).json"))) as! [String: Any]
        XCTAssertEqual(there["pinned"] as? Bool, true)
        XCTAssertEqual(there["pin_note"] as? String, "TICKET-7")
        let kept = try run(["prune", "--replica", "offsite", "--json"])
        XCTAssertEqual(kept.status, 0, kept.stderr)
        XCTAssertEqual((try document(try run(["list", "--from", "offsite", "--json"]))["snapshots"] as! [[String: Any]]).map { $0["id"] as! String },
                       [first, second], "the replica's prune removed a pinned snapshot")

        // Unreachable: the local pin is set, the command says the replica did not get it.
        let unreachable = try run(["unpin", first, "--json"], ["BACKSTOP_S3_RETRIES": "0"], endpoint: "http://127.0.0.1:9")
        XCTAssertEqual(unreachable.status, 1, unreachable.stderr)
        let failed = (try document(unreachable, schema: "unpin")["replicas"] as! [[String: Any]])[0]
        XCTAssertEqual(failed["ok"] as? Bool, false)
        XCTAssertTrue((failed["error"] as? String)?.contains("no answer from http://127.0.0.1:9") ?? false, "\(failed)")
        XCTAssertEqual((try document(try run(["show", first, "--json"]))["snapshot"] as? [String: Any])?["pinned"] as? Bool, false)

        let unpin = try run(["unpin", first, "--json"])
        XCTAssertEqual(unpin.status, 0, unpin.stderr)
        XCTAssertEqual((try document(unpin)["replicas"] as! [[String: Any]])[0]["holds"] as? Bool, true)
        let prune = try run(["prune", "--replica", "offsite"])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertEqual((try document(try run(["list", "--from", "offsite", "--json"]))["snapshots"] as! [[String: Any]]).map { $0["id"] as! String },
                       [second])
        // Not on the replica: said, not an error.
        let notThere = try run(["pin", first])
        XCTAssertEqual(notThere.status, 0, notThere.stderr)
        XCTAssertTrue(notThere.stderr.contains("offsite (s3://\(bucket)/pins) does not hold \(first)"), notThere.stderr)
    }

    /// Credentials that may read but not write: the push names the permission it lacks and what to do,
    /// nothing is listed on the replica, and the local snapshot stays; reading with them still works.
    func testPermissionDeniedIsNamed() throws {
        try makeDatabase(rows: 20)
        let id = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        let reader = server.environment(accessKey: S3TestServer.readerKey, secret: S3TestServer.readerSecret)
        let push = try backstop(["push"], environment: reader)
        XCTAssertEqual(push.status, 1, push.stderr)
        XCTAssertTrue(push.stderr.contains("permission denied for s3://\(bucket)/backups/app/"), push.stderr)
        XCTAssertTrue(push.stderr.contains("hint: grant the credentials from AWS_ACCESS_KEY_ID the permission (s3:GetObject, s3:PutObject"), push.stderr)
        XCTAssertFalse(push.stderr.contains(S3TestServer.readerSecret), "the secret was printed")
        XCTAssertTrue(FileManager.default.fileExists(atPath: path("app.db.backstop/\(id).json")))
        let list = try backstop(["list", "--from", "offsite", "--json"], environment: reader)
        XCTAssertEqual(list.status, 0, list.stderr)
        XCTAssertEqual((try document(list)["snapshots"] as! [[String: Any]]).count, 0)
    }

    /// A server without conditional writes (501 to If-None-Match and If-Match): the manifest goes up after a
    /// HEAD and is read back, the lease and pins fall back the same way, and nothing is lost or doubled.
    func testAServerWithoutConditionalWrites() throws {
        let proxy = try InterceptingProxy(to: server.port, .refuseConditionalWrites)
        try makeDatabase(rows: 30)
        try writeReplicaKeepingOne(prefix: "plain")
        let first = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        let push = try run(["push", "--json"], endpoint: proxy.endpoint)
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertEqual((try document(push)["replicas"] as! [[String: Any]])[0]["pushed"] as? [String], [first])
        XCTAssertEqual(proxy.refused, ["/\(bucket)/plain/\(first).json"], "the manifest was not written conditionally first")
        let again = try run(["push", "--json"], endpoint: proxy.endpoint)
        XCTAssertEqual((try document(again)["replicas"] as! [[String: Any]])[0]["already_there"] as? [String], [first])

        try execute(path("app.db"), "INSERT INTO items(name) VALUES ('later')")
        let second = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        XCTAssertEqual(try run(["push"], endpoint: proxy.endpoint).status, 0)
        let pin = try run(["pin", first], endpoint: proxy.endpoint)
        XCTAssertEqual(pin.status, 0, pin.stderr)
        let prune = try run(["prune", "--replica", "offsite"], endpoint: proxy.endpoint)
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertEqual((try document(try run(["list", "--from", "offsite", "--json"]))["snapshots"] as! [[String: Any]]).map { $0["id"] as! String },
                       [first, second], "the pin set without If-Match did not hold")
        XCTAssertTrue(proxy.refused.contains("/\(bucket)/plain/lock.json"), "\(proxy.refused)")
        XCTAssertNil(try server.client(bucket: bucket).head("plain/lock.json"), "the lease was left behind")
        let verify = try run(["verify", "--from", "offsite", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// A redirect (the bucket is served elsewhere) is not followed with a request signed for another host:
    /// the error says where the server sends it, and what to set.
    func testARedirectIsNamedNotFollowed() throws {
        let proxy = try InterceptingProxy(to: server.port, .redirectEverything)
        let list = try run(["list", "--from", "offsite"], endpoint: proxy.endpoint)
        XCTAssertEqual(list.status, 1, list.stderr)
        XCTAssertTrue(list.stderr.contains("\(proxy.endpoint) answered 307, sending the request to http://127.0.0.1:\(server.port); a signed request cannot follow it"),
                      list.stderr)
        XCTAssertTrue(list.stderr.contains("hint: set endpoint = \"http://127.0.0.1:\(server.port)\""), list.stderr)
        XCTAssertEqual(proxy.refused.count, 1, "the request was retried or followed: \(proxy.refused)")
    }

    /// Two runs pushing the same snapshot (a cron push and a snapshot's own): the second waits for the
    /// first, then exits 5 naming the push, uploading nothing; once the first is done, it is there.
    func testTwoRunsNeverPushTheSameSnapshotAtOnce() throws {
        try makeDatabase(rows: 100)
        let id = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        var env = server.environment()
        env["BACKSTOP_FAULT"] = "push.after-data:stop"
        let first = try spawnBackstop(["push"], environment: env)
        XCTAssertTrue(first.waitUntilStopped(), "the push never uploaded its data: \(first.stderr)")
        let second = try run(["push", "--lock-wait", "0.5"])
        XCTAssertEqual(second.status, 5, second.stderr)
        XCTAssertTrue(second.stderr.contains("the push of snapshot \(id) is locked by another Backstop run"), second.stderr)
        first.resume()
        XCTAssertEqual(first.wait().status, 0, first.stderr)
        let third = try run(["push", "--json"])
        XCTAssertEqual(third.status, 0, third.stderr)
        XCTAssertEqual((try document(third)["replicas"] as! [[String: Any]])[0]["already_there"] as? [String], [id])
    }

    /// Support staff bring back rows from the off-site copy; the pre-recover snapshot stays local.
    func testDiffAndRecoverFromTheReplica() throws {
        try makeDatabase(rows: 50)
        let id = try takeSnapshot("app.db", [], environment: server.environment())
        try execute(path("app.db"), "DELETE FROM items WHERE id <= 5")
        try FileManager.default.removeItem(atPath: path("app.db.backstop"))
        let diff = try run(["diff", "--from", "offsite", id, "--json"])
        XCTAssertEqual(diff.status, 0, diff.stderr)
        XCTAssertTrue(diff.stdout.contains("\"deleted\" : 5"), diff.stdout)
        let recover = try run(["recover", "--from", "offsite", id, "--table", "items", "--where", "id <= 5", "--yes"])
        XCTAssertEqual(recover.status, 0, recover.stderr)
        XCTAssertEqual(try count(path("app.db")), 50)
        let local = try run(["list", "--json"])
        XCTAssertEqual((try document(local)["snapshots"] as! [[String: Any]]).map { $0["kind"] as! String }, ["pre-recover"])
    }

    func testPushSendsOnlyWhatIsMissing() throws {
        try makeDatabase(rows: 100)
        let first = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        let second = try takeSnapshot("app.db", ["--no-push", "--label", "two"], environment: server.environment())
        let push = try run(["push", "--json"])
        XCTAssertEqual(push.status, 0, push.stderr)
        let replica = (try document(push, schema: "push")["replicas"] as! [[String: Any]])[0]
        XCTAssertEqual(replica["pushed"] as? [String], [first, second])
        let again = try run(["push", "--json"])
        XCTAssertEqual(again.status, 0, again.stderr)
        let replicaAgain = (try document(again)["replicas"] as! [[String: Any]])[0]
        XCTAssertEqual(replicaAgain["pushed"] as? [String], [])
        XCTAssertEqual(replicaAgain["already_there"] as? [String], [first, second])
    }

    /// The server is killed mid-upload and restarted: nothing is half-listed, and the next push resumes the
    /// upload with the parts already sent.
    func testServerKilledMidUploadThenPushResumes() throws {
        try makeLargeDatabase()
        let id = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        var env = server.environment()
        env["BACKSTOP_FAULT"] = "push.after-part:stop"
        env["BACKSTOP_S3_RETRIES"] = "0"
        let child = try spawnBackstop(["push"], environment: env)
        XCTAssertTrue(child.waitUntilStopped(), "push never reached a part: \(child.stderr)")
        server.kill()
        child.resume()
        let (status, _) = child.wait()
        XCTAssertEqual(status, 1, child.stderr)
        XCTAssertTrue(child.stderr.contains("no answer from"), child.stderr)
        try server.start()
        let listed = try run(["list", "--from", "offsite", "--json"])
        XCTAssertEqual(listed.status, 0, listed.stderr)
        XCTAssertEqual((try document(listed)["snapshots"] as! [[String: Any]]).count, 0, "a half-uploaded snapshot is listed")
        let push = try run(["push", "--json"])
        XCTAssertEqual(push.status, 0, push.stderr)
        let replica = (try document(push)["replicas"] as! [[String: Any]])[0]
        XCTAssertEqual(replica["pushed"] as? [String], [id])
        XCTAssertGreaterThanOrEqual(replica["resumed_parts"] as? Int ?? 0, 1, "the upload started over")
        let verify = try run(["verify", "--from", "offsite", "--deep"])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// Connections dropped mid-transfer, both ways, are retried: the push and the restore still succeed.
    func testDroppedConnectionsAreRetried() throws {
        try makeLargeDatabase()
        let id = try takeSnapshot("app.db", ["--no-push"], environment: server.environment())
        let proxy = try DroppingProxy(to: server.port, drops: 3, afterBytes: 1 << 20)
        let push = try run(["push"], endpoint: proxy.endpoint)
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertGreaterThanOrEqual(proxy.dropped, 1, "the proxy dropped nothing")
        let downloads = try DroppingProxy(to: server.port, drops: 3, afterBytes: 2 << 20)
        let restore = try run(["restore", "--from", "offsite", id, "--to", path("copy.db")], endpoint: downloads.endpoint)
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertGreaterThanOrEqual(downloads.dropped, 1, "the proxy dropped nothing")
        let image = (try document(try run(["list", "--json"]))["snapshots"] as! [[String: Any]])[0]["sha256"] as! String
        XCTAssertEqual(SHA256Hasher.hex(of: try Data(contentsOf: URL(fileURLWithPath: path("copy.db")))), image)
    }

    /// Wrong credentials: a clear error that never shows the secret; the local snapshot is kept, and the
    /// command does not claim success.
    func testWrongCredentials() throws {
        try makeDatabase(rows: 10)
        let wrongSecret = "not-the-secret-\(UUID().uuidString)"
        let snap = try run(["snapshot"], ["AWS_SECRET_ACCESS_KEY": wrongSecret])
        XCTAssertEqual(snap.status, 1, snap.stderr)
        XCTAssertTrue(snap.stderr.contains("rejected the credentials (SignatureDoesNotMatch)"), snap.stderr)
        XCTAssertTrue(snap.stderr.contains("is stored locally"), snap.stderr)
        XCTAssertFalse((snap.stdout + snap.stderr).contains(wrongSecret))
        XCTAssertFalse((snap.stdout + snap.stderr).contains(S3TestServer.accessKey))
        XCTAssertEqual((try document(try run(["list", "--json"]))["snapshots"] as! [[String: Any]]).count, 1)
        let list = try run(["list", "--from", "offsite"], ["AWS_SECRET_ACCESS_KEY": wrongSecret])
        XCTAssertEqual(list.status, 1)
        XCTAssertTrue(list.stderr.contains("hint: check the access key and secret (they came from AWS_ACCESS_KEY_ID)"), list.stderr)
    }

    func testMissingBucket() throws {
        try makeDatabase(rows: 10)
        let result = try run(["list", "--from", "s3://no-such-bucket-here/x"])
        XCTAssertEqual(result.status, 3, result.stderr)
        XCTAssertTrue(result.stderr.contains("the bucket no-such-bucket-here does not exist"), result.stderr)
        XCTAssertTrue(result.stderr.contains("hint: create the bucket"), result.stderr)
    }

    /// An unreachable server is not damage: verify says it could not read, and exits 1, not 4.
    func testUnreachableServerIsNotDamage() throws {
        try makeDatabase(rows: 10)
        _ = try takeSnapshot("app.db", [], environment: server.environment())
        let verify = try run(["verify", "--from", "offsite"], ["BACKSTOP_S3_RETRIES": "0"], endpoint: "http://127.0.0.1:9")
        XCTAssertEqual(verify.status, 1, verify.stdout + verify.stderr)
        XCTAssertTrue(verify.stderr.contains("no answer from http://127.0.0.1:9"), verify.stderr)
    }

    /// Prune applies the replica's own policy under its lease; a live lease held elsewhere makes it wait and
    /// exit 5; a stale one is taken over.
    func testPruneAReplicaUnderItsLease() throws {
        try makeDatabase(rows: 10)
        var ids: [String] = []
        for i in 0..<3 {
            try execute(path("app.db"), "INSERT INTO items(name) VALUES ('row \(i)')")
            ids.append(try takeSnapshot("app.db", [], environment: server.environment()))
        }
        try writeReplicaKeepingOne(prefix: "backups/app")
        let client = try server.client(bucket: bucket)
        let live = Data("""
            {"acquired_at": "2026-01-01T00:00:00.000Z", "expires_at": "2999-01-01T00:00:00.000Z", "owner": "other-host pid 42 (backstop prune)", "token": "x"}
            """.utf8)
        _ = try client.put("backups/app/lock.json", body: live)
        let blocked = try run(["prune", "--replica", "offsite", "--lock-wait", "0.5"])
        XCTAssertEqual(blocked.status, 5, blocked.stderr)
        XCTAssertTrue(blocked.stderr.contains("the replica s3://\(bucket)/backups/app is locked by other-host pid 42 (backstop prune)"), blocked.stderr)
        XCTAssertEqual((try document(try run(["list", "--from", "offsite", "--json"]))["snapshots"] as! [[String: Any]]).count, 3)

        _ = try client.put("backups/app/lock.json", body: Data(String(decoding: live, as: UTF8.self).replacingOccurrences(of: "2999", with: "2001").utf8))
        let prune = try run(["prune", "--json"])
        XCTAssertEqual(prune.status, 0, prune.stderr)
        XCTAssertTrue(prune.stderr.contains("other-host pid 42"), "no word of the lease taken over: \(prune.stderr)")
        let local = try document(prune, schema: "prune")
        XCTAssertEqual((local["remove"] as! [Any]).count, 0)
        let remote = (local["replicas"] as! [[String: Any]])[0]
        XCTAssertEqual(remote["store"] as? String, "s3://\(bucket)/backups/app")
        XCTAssertEqual((remote["remove"] as! [[String: Any]]).map { ($0["snapshot"] as! [String: Any])["id"] as! String }, [ids[0], ids[1]])
        XCTAssertEqual((try document(try run(["list", "--from", "offsite", "--json"]))["snapshots"] as! [[String: Any]]).map { $0["id"] as! String }, [ids[2]])
        XCTAssertEqual((try document(try run(["list", "--json"]))["snapshots"] as! [[String: Any]]).count, 3)
        XCTAssertNil(try client.head("backups/app/lock.json"), "the lease was left behind")
        // The next push does not bring back what the replica's policy removed.
        let push = try run(["push", "--json"])
        XCTAssertEqual(push.status, 0, push.stderr)
        XCTAssertEqual(((try document(push)["replicas"] as! [[String: Any]])[0]["pushed"] as? [String]), [])
    }

    /// A clock far off: S3 refuses the signature, and the error says it is the clock.
    func testClockSkewIsNamed() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/faketime") else { return XCTFail("faketime is missing: 'make test' installs it") }
        try makeDatabase(rows: 10)
        let result = try self.run("/usr/bin/faketime", ["-f", "+2d", BackstopTestCase.backstopPath, "list", "--from", "offsite"],
                                  environment: server.environment())
        XCTAssertEqual(result.status, 1, result.stderr)
        XCTAssertTrue(result.stderr.contains("this machine's clock differs too much from the server's (RequestTimeTooSkewed)"), result.stderr)
        XCTAssertTrue(result.stderr.contains("hint: set this machine's clock right"), result.stderr)
    }
}
