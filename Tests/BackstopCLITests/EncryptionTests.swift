import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// Encrypted stores (age): what standard tools read, what needs the key, and that a missing or wrong
/// key changes nothing.
final class EncryptionTests: BackstopTestCase {
    /// Generates an identity with `backstop key generate`, returns its public key.
    func generateKey(_ name: String = "key.txt") throws -> String {
        let result = try backstop(["key", "generate", name])
        XCTAssertEqual(result.status, 0, result.stderr)
        let key = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(key.hasPrefix("age1") && key.count == 62, key)
        return key
    }

    /// A configuration for app.db whose snapshots are encrypted to `recipients`.
    func configure(_ lines: [String]) throws {
        try (["db = \"app.db\""] + lines).joined(separator: "\n").appending("\n")
            .write(toFile: path("backstop.toml"), atomically: true, encoding: .utf8)
    }

    func shell(_ script: String) throws -> RunResult {
        try run("/bin/sh", ["-c", script])
    }

    func storeFiles() throws -> [String: Data] {
        let store = path("app.db.backstop")
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: store) where name != "lock" {
            files[name] = FileManager.default.contents(atPath: (store as NSString).appendingPathComponent(name))
        }
        return files
    }

    func manifest(_ id: String) throws -> [String: Any] {
        let data = try XCTUnwrap(FileManager.default.contents(atPath: path("app.db.backstop/\(id).json")))
        return try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func testKeyGenerateWritesAPrivateIdentityThatAgeReadsAndNeverReplacesOne() throws {
        let key = try generateKey()
        var info = stat()
        XCTAssertEqual(lstat(path("key.txt"), &info), 0)
        XCTAssertEqual(info.st_mode & 0o777, 0o600)
        // The age CLI derives the same public key from it.
        let derived = try run("/usr/bin/age-keygen", ["-y", path("key.txt")])
        XCTAssertEqual(derived.status, 0, derived.stderr)
        XCTAssertEqual(derived.stdout, key + "\n")
        let shown = try backstop(["key", "public", "key.txt"])
        XCTAssertEqual(shown.stdout, key + "\n")
        let before = try Data(contentsOf: URL(fileURLWithPath: path("key.txt")))
        let again = try backstop(["key", "generate", "key.txt"])
        XCTAssertEqual(again.status, 6, again.stderr)
        XCTAssertTrue(again.stderr.hasPrefix("error: \(path("key.txt")) already exists; nothing was changed"), again.stderr)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: path("key.txt"))), before)
        let json = try document(backstop(["key", "generate", "other.txt", "--json"]), schema: "key-generate")
        XCTAssertEqual(json["file"] as? String, path("other.txt"))
        XCTAssertEqual((json["public_keys"] as? [String])?.count, 1)
    }

    func testAgeAndGzipYieldTheExactImageAndTheManifestHoldsNoSecret() throws {
        try makeDatabase(rows: 5000)
        let key = try generateKey()
        try configure(["recipients = [\"\(key)\"]"])
        let taken = try backstop(["snapshot"])
        XCTAssertEqual(taken.status, 0, taken.stderr)
        let id = taken.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(taken.stderr.contains("(encrypted to \(key))"), taken.stderr)
        let manifest = try manifest(id)
        XCTAssertEqual(manifest["file"] as? String, "\(id).sqlite.gz.age")
        XCTAssertEqual(manifest["format"] as? String, "backstop-snapshot/3")
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("app.db.backstop/\(id).sqlite.gz")))
        let encryption = try XCTUnwrap(manifest["encryption"] as? [String: Any])
        XCTAssertEqual(encryption["recipients"] as? [String], [key])
        XCTAssertEqual(encryption["format"] as? String, "age-encryption.org/v1")
        // Standard tools: age, then gzip, give the image whose checksum the manifest records.
        let file = path("app.db.backstop/\(id).sqlite.gz.age")
        let image = try shell("age -d -i key.txt \(file) | gzip -dc | sha256sum")
        XCTAssertEqual(image.status, 0, image.stderr)
        XCTAssertEqual(String(image.stdout.prefix(64)), manifest["sha256"] as? String)
        let gzip = try shell("age -d -i key.txt \(file) | sha256sum; age -d -i key.txt \(file) | wc -c")
        let lines = gzip.stdout.split(separator: "\n")
        XCTAssertEqual(String(lines[0].prefix(64)), encryption["gzip_sha256"] as? String)
        XCTAssertEqual(Int64(lines[1].trimmingCharacters(in: .whitespaces)), (encryption["gzip_bytes"] as? NSNumber)?.int64Value)
        let stored = try shell("sha256sum \(file)")
        XCTAssertEqual(String(stored.stdout.prefix(64)), manifest["compressed_sha256"] as? String)
        // The image restored by sqlite3 from age's output is the database.
        XCTAssertEqual(try shell("age -d -i key.txt \(file) | gzip -dc > plain.db").status, 0)
        XCTAssertEqual(try contentDigest(path("plain.db")), try contentDigest(path("app.db")))
        // No secret in the manifest: not the key, not a word of the data.
        let text = try String(contentsOfFile: path("app.db.backstop/\(id).json"), encoding: .utf8)
        let secret = try String(contentsOfFile: path("key.txt"), encoding: .utf8).split(separator: "\n").last!
        XCTAssertFalse(text.contains(String(secret)))
        XCTAssertFalse(text.contains("lorem"))
        // The encrypted file does not hold the data in the clear either.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        XCTAssertTrue(bytes.starts(with: Data("age-encryption.org/v1\n".utf8)))
        // list and show say it is encrypted.
        let list = try listed()
        XCTAssertEqual((list[0]["encryption"] as? [String: Any])?["recipients"] as? [String], [key])
        let show = try backstop(["show", id])
        XCTAssertTrue(show.stdout.contains("encryption         age, to \(key)"), show.stdout)
    }

    func testWithoutTheKeyNothingIsReadOrChangedAndTheStoredFileIsStillVerified() throws {
        try makeDatabase(rows: 2000)
        let key = try generateKey()
        _ = try generateKey("wrong.txt")
        try configure(["recipients = [\"\(key)\"]"])
        let id = try takeSnapshot()
        try execute(path("app.db"), "DELETE FROM items WHERE id > 100")
        let live = try contentDigest(path("app.db"))
        let files = try storeFiles()
        // The stored file needs no key to be checked.
        let quick = try backstop(["verify"])
        XCTAssertEqual(quick.status, 0, quick.stderr)
        for (arguments, what) in [
            (["restore", id, "--yes"], "restore"),
            (["restore", id, "--to", "out.db"], "restore --to"),
            (["query", id, "SELECT count(*) FROM items"], "query"),
            (["diff", id, "--table", "items"], "diff"),
            (["recover", id, "--table", "items", "--where", "id = 500", "--yes"], "recover"),
        ] {
            let missing = try backstop(arguments)
            XCTAssertEqual(missing.status, 9, "\(what): \(missing.stderr)")
            XCTAssertTrue(missing.stderr.contains("error: snapshot \(id) is encrypted (to \(key)) and no key was given to decrypt it; nothing was changed"), "\(what): \(missing.stderr)")
            XCTAssertTrue(missing.stderr.contains("hint: give the secret key of \(key): --identity FILE"), "\(what): \(missing.stderr)")
            // Said before any plan is shown or confirmation asked for.
            XCTAssertFalse(missing.stderr.contains("This replaces"), "\(what): \(missing.stderr)")
            let wrong = try backstop(arguments + ["--identity", "wrong.txt"])
            XCTAssertEqual(wrong.status, 9, "\(what): \(wrong.stderr)")
            XCTAssertTrue(wrong.stderr.contains("error: snapshot \(id) is encrypted to \(key), and \(path("wrong.txt")) cannot decrypt it"), "\(what): \(wrong.stderr)")
            XCTAssertFalse(wrong.stderr.contains("This replaces"), "\(what): \(wrong.stderr)")
            XCTAssertEqual(try contentDigest(path("app.db")), live, what)
            XCTAssertEqual(try storeFiles(), files, what)
            XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.db")), what)
        }
        let deep = try backstop(["verify", "--deep", "--json"])
        XCTAssertEqual(deep.status, 9, deep.stderr)
        let document = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(deep.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(document["ok"] as? Bool, false)
        XCTAssertEqual((document["snapshots"] as? [[String: Any]])?.first?["status"] as? String, "cannot_decrypt")
        // A key file that is not one is a usage error naming it, and shows nothing of it.
        try "AGE-SECRET-KEY-1NOTAKEY\n".write(toFile: path("bad.txt"), atomically: true, encoding: .utf8)
        let bad = try backstop(["restore", id, "--yes", "--identity", "bad.txt"])
        XCTAssertEqual(bad.status, 2, bad.stderr)
        XCTAssertTrue(bad.stderr.hasPrefix("error: \(path("bad.txt")):1: not an age secret key"), bad.stderr)
        XCTAssertFalse(bad.stderr.contains("NOTAKEY"))
        XCTAssertEqual(try contentDigest(path("app.db")), live)
    }

    func testWithTheKeyEveryReadingCommandWorksAndNewSafetySnapshotsAreEncrypted() throws {
        try makeDatabase(rows: 3000)
        let key = try generateKey()
        try configure(["recipients = [\"\(key)\"]"])
        let id = try takeSnapshot()
        let original = try contentDigest(path("app.db"))
        try execute(path("app.db"), "DELETE FROM items WHERE id > 2000")
        // From the flag, the environment and the configuration.
        let verify = try backstop(["verify", "--deep", "--identity", "key.txt"])
        XCTAssertEqual(verify.status, 0, verify.stderr)
        XCTAssertTrue(verify.stdout.contains("ok      \(id)  deep"), verify.stdout)
        let query = try backstop(["query", id, "SELECT count(*) FROM items", "--csv"], environment: ["BACKSTOP_IDENTITY": path("key.txt")])
        XCTAssertEqual(query.status, 0, query.stderr)
        XCTAssertEqual(query.stdout, "count(*)\n3000\n")
        try configure(["recipients = [\"\(key)\"]", "identity = \"key.txt\""])
        let diff = try document(backstop(["diff", id, "--table", "items", "--json"]), schema: "diff")
        XCTAssertNotNil(diff["tables"], "\(diff)")
        let recover = try backstop(["recover", id, "--table", "items", "--where", "id = 2500", "--yes"])
        XCTAssertEqual(recover.status, 0, recover.stderr)
        XCTAssertEqual(try count(path("app.db")), 2001)
        let copy = try backstop(["restore", id, "--to", "copy.db"])
        XCTAssertEqual(copy.status, 0, copy.stderr)
        XCTAssertEqual(try contentDigest(path("copy.db")), original)
        let restore = try backstop(["restore", id, "--yes", "--json"])
        XCTAssertEqual(restore.status, 0, restore.stderr)
        XCTAssertEqual(try contentDigest(path("app.db")), original)
        // The pre-restore snapshot (and recover's) were encrypted too, to the same key.
        for snapshot in try listed() {
            XCTAssertEqual((snapshot["encryption"] as? [String: Any])?["recipients"] as? [String], [key], "\(snapshot["kind"] ?? "")")
            XCTAssertTrue((snapshot["file"] as? String)?.hasSuffix(".sqlite.gz.age") ?? false)
        }
        XCTAssertEqual(try listed().count, 3)
    }

    func testAPassphraseEncryptsAloneAndAWrongOneChangesNothing() throws {
        try makeDatabase(rows: 500)
        try "correct horse battery staple\n".write(toFile: path("pass.txt"), atomically: true, encoding: .utf8)
        try "wrong\n".write(toFile: path("wrong.txt"), atomically: true, encoding: .utf8)
        try configure(["passphrase_file = \"pass.txt\"", "passphrase_work_factor = 10"])
        let id = try takeSnapshot()
        XCTAssertEqual(try manifest(id)["encryption"].flatMap { ($0 as? [String: Any])?["recipients"] as? [String] }, ["passphrase"])
        let copy = try backstop(["restore", id, "--to", "copy.db"])
        XCTAssertEqual(copy.status, 0, copy.stderr)
        XCTAssertEqual(try contentDigest(path("copy.db")), try contentDigest(path("app.db")))
        // A passphrase given to read with is tried first, and a wrong one is no key.
        try configure([])
        let wrong = try backstop(["restore", id, "--to", "other.db", "--passphrase-file", "wrong.txt"])
        XCTAssertEqual(wrong.status, 9, wrong.stderr)
        XCTAssertTrue(wrong.stderr.contains("hint: give the passphrase it was encrypted with: --passphrase-file FILE"), wrong.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("other.db")))
        let right = try backstop(["restore", id, "--to", "other.db"], environment: ["BACKSTOP_PASSPHRASE_FILE": path("pass.txt")])
        XCTAssertEqual(right.status, 0, right.stderr)
        // age allows a passphrase only as a file's one recipient.
        let key = try generateKey()
        try configure(["passphrase_file = \"pass.txt\"", "recipients = [\"\(key)\"]"])
        let both = try backstop(["snapshot"])
        XCTAssertEqual(both.status, 2, both.stderr)
        XCTAssertTrue(both.stderr.hasPrefix("error: a passphrase cannot be combined with public keys"), both.stderr)
        try configure([])
        XCTAssertEqual(try listed().count, 1)
    }

    func testADamagedEncryptedFileFailsVerificationWithOrWithoutTheKey() throws {
        try makeDatabase(rows: 4000)
        let key = try generateKey()
        try configure(["recipients = [\"\(key)\"]", "identity = \"key.txt\""])
        let id = try takeSnapshot()
        let file = path("app.db.backstop/\(id).sqlite.gz.age")
        let handle = try XCTUnwrap(FileHandle(forUpdatingAtPath: file))
        let size = try handle.seekToEnd()
        try handle.seek(toOffset: size / 2)
        let byte = try XCTUnwrap(handle.readData(ofLength: 1).first)
        try handle.seek(toOffset: size / 2)
        handle.write(Data([byte ^ 0x01]))
        try handle.close()
        try execute(path("app.db"), "DELETE FROM items")
        for arguments in [["verify"], ["verify", "--deep"], ["restore", id, "--yes"]] {
            let result = try backstop(arguments)
            XCTAssertEqual(result.status, 4, "\(arguments): \(result.stderr)")
        }
        XCTAssertEqual(try count(path("app.db")), 0)
    }

    func testRunRefusesWhenTheAutomaticRestoreCouldNotDecrypt() throws {
        try makeDatabase(rows: 100)
        let key = try generateKey()
        try configure(["recipients = [\"\(key)\"]"])
        let refused = try backstop(["run", "--", "/bin/sh", "-c", "exit 0"])
        XCTAssertEqual(refused.status, 6, refused.stderr)
        XCTAssertTrue(refused.stderr.hasPrefix("error: the store encrypts its snapshots, and no key given decrypts them"), refused.stderr)
        XCTAssertEqual(try listed().count, 0)
        // With the key, a failed run is rolled back from the encrypted snapshot.
        let failed = try backstop(["run", "--identity", "key.txt", "--", "/bin/sh", "-c",
                                   "sqlite3 app.db 'DELETE FROM items'; exit 3"])
        XCTAssertEqual(failed.status, 8, failed.stderr)
        XCTAssertEqual(try count(path("app.db")), 100)
    }

    func testPlainSnapshotsAfterEncryptedOnesAreWarnedAboutAndIfChangedTakesAnEncryptedOne() throws {
        try makeDatabase(rows: 100)
        _ = try takeSnapshot("app.db")
        let key = try generateKey()
        try configure(["recipients = [\"\(key)\"]"])
        // Unchanged content, but the newest snapshot is not encrypted as the store now asks.
        let encrypted = try backstop(["snapshot", "--if-changed"])
        XCTAssertEqual(encrypted.status, 0, encrypted.stderr)
        XCTAssertEqual(try listed().count, 2)
        let unchanged = try backstop(["snapshot", "--if-changed"])
        XCTAssertEqual(unchanged.status, 0, unchanged.stderr)
        XCTAssertEqual(try listed().count, 2)
        // Run without the configuration: the snapshot is plain, and said so.
        try configure([])
        let plain = try backstop(["snapshot"])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        XCTAssertTrue(plain.stderr.contains("is NOT encrypted (no recipients are set), although the previous one"), plain.stderr)
    }

    func testKillAtEveryStepOfAnEncryptedSnapshotLeavesOnlyIntactListedSnapshots() throws {
        try makeDatabase(rows: 60_000)
        let key = try generateKey()
        try configure(["recipients = [\"\(key)\"]", "identity = \"key.txt\""])
        _ = try takeSnapshot("app.db", ["--level", "1"])
        let points: [(String, listed: Bool)] = [
            ("snapshot.mid-write@3", false), ("snapshot.after-data-commit", false),
            ("snapshot.before-manifest", false), ("snapshot.after-manifest", true),
        ]
        for (point, appears) in points {
            let before = try listed().count
            try backstopKilled(at: point, ["snapshot", "--level", "1"])
            XCTAssertEqual(try listed().count, before + (appears ? 1 : 0), point)
            let verify = try backstop(["verify", "--deep"])
            XCTAssertEqual(verify.status, 0, "\(point): \(verify.stdout)\(verify.stderr)")
        }
        XCTAssertEqual(try backstop(["snapshot", "-q"]).status, 0)
        XCTAssertEqual(try FileSystem.listDirectory(path("app.db.backstop")).filter { $0.hasPrefix(".tmp.") }, [])
    }
}
