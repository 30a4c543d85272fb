import BackstopAge
import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

final class ConfigurationTests: BackstopTestCase {
    func write(_ text: String, to name: String = "backstop.toml") throws -> String {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path(name)))
        return path(name)
    }

    func testFlagsOverrideEnvironmentWhichOverridesTheFile() throws {
        let file = try write("""
        # the main app
        db = "data/app.db"
        store = "backups"
        migrations = "db/migrations"
        policy = "policies/default.toml"

        [databases.accounts]
        db = "data/accounts.db"
        store = "backups/accounts"
        """)
        let configuration = try Configuration.load(path: file)
        let fromFile = try Target.resolve(.init(), configuration: configuration, environment: [:])
        XCTAssertEqual(fromFile.database, path("data/app.db"))
        XCTAssertEqual(fromFile.store, path("backups"))
        XCTAssertEqual(fromFile.migrations, path("db/migrations"))
        XCTAssertEqual(fromFile.policy, path("policies/default.toml"))

        let named = try Target.resolve(.init(databaseName: "accounts"), configuration: configuration, environment: [:])
        XCTAssertEqual(named.database, path("data/accounts.db"))
        XCTAssertEqual(named.store, path("backups/accounts"))
        XCTAssertEqual(named.migrations, path("db/migrations"), "unset keys fall back to the top level")

        let fromEnvironment = try Target.resolve(.init(), configuration: configuration,
                                                 environment: ["BACKSTOP_DB": path("env.db"), "BACKSTOP_STORE": path("env-store")])
        XCTAssertEqual(fromEnvironment.database, path("env.db"))
        XCTAssertEqual(fromEnvironment.store, path("env-store"))

        let fromFlags = try Target.resolve(.init(db: path("flag.db")), configuration: configuration,
                                           environment: ["BACKSTOP_DB": path("env.db")])
        XCTAssertEqual(fromFlags.database, path("flag.db"))
        XCTAssertEqual(fromFlags.store, path("flag.db.backstop"), "the store follows a database given by flag")

        XCTAssertThrowsError(try Target.resolve(.init(databaseName: "nope"), configuration: configuration, environment: [:])) { error in
            XCTAssertTrue("\(error)".contains("accounts"), "\(error)")
        }
    }

    func testDefaultStoreIsAFolderBesideTheDatabase() throws {
        let target = try Target.resolve(.init(db: path("app.db")), configuration: Configuration(), environment: [:])
        XCTAssertEqual(target.store, path("app.db.backstop"))
        XCTAssertThrowsError(try Target.resolve(.init(), configuration: Configuration(), environment: [:]))
    }

    func testConfigurationErrorsNameTheFileLineAndKey() throws {
        let cases: [(String, String)] = [
            ("db = \"a.db\"\nstroe = \"x\"\n", ":2: unknown key 'stroe'"),
            ("db = 3\n", ":1: 'db' must be a non-empty string"),
            ("[backup]\ndb = \"a\"\n", ":1: unknown table [backup]"),
            ("db = \"a.db\"\ndb = \"b.db\"\n", ":2: the key 'db' appears twice"),
            ("db = \"unterminated\n", ":1: unterminated string"),
            ("db = a.db\n", ":1: cannot read the value 'a.db'"),
        ]
        for (text, expected) in cases {
            let file = try write(text, to: "case.toml")
            XCTAssertThrowsError(try Configuration.load(path: file)) { error in
                XCTAssertTrue("\(error)".contains(file + expected), "\(error) should contain \(expected)")
            }
        }
    }

    func testTOMLSubsetParsesWhatItAccepts() throws {
        let document = try TOMLDocument.parse("""
        a = "tab\\tquote\\" \\u00e9"   # comment
        b = 'C:\\literal'
        c = 1_000
        d = -3
        e = true
        f = [1, "two", 3.5]
        [x."y z"]
        g = 0.25
        """, file: "t.toml")
        let root = try XCTUnwrap(document.table(""))
        XCTAssertEqual(root.entry("a")?.value, .string("tab\tquote\" é"))
        XCTAssertEqual(root.entry("b")?.value, .string("C:\\literal"))
        XCTAssertEqual(root.entry("c")?.value, .integer(1000))
        XCTAssertEqual(root.entry("d")?.value, .integer(-3))
        XCTAssertEqual(root.entry("e")?.value, .bool(true))
        XCTAssertEqual(root.entry("f")?.value, .array([.integer(1), .string("two"), .float(3.5)]))
        XCTAssertEqual(document.table("x.y z")?.entry("g")?.value, .float(0.25))
        XCTAssertEqual(document.table("x.y z")?.entry("g")?.line, 8)
    }

    /// A replica's own keys: its recipients encrypt what is sent to it (none: sent as stored); its
    /// identities read it, beside the store's; its key files are read relative to backstop.toml.
    func testReplicasHaveTheirOwnRecipientsAndIdentities() throws {
        let replicaKey = AgeIdentity.generate(), storeKey = AgeIdentity.generate()
        try XCTUnwrap(replicaKey.fileText(created: "2026-11-24T00:00:00Z")).write(toFile: path("offsite.key"), atomically: true, encoding: .utf8)
        try XCTUnwrap(storeKey.fileText(created: "2026-11-24T00:00:00Z")).write(toFile: path("store.key"), atomically: true, encoding: .utf8)
        let file = try write("""
        db = "app.db"

        [replicas.offsite]
        url = "s3://bucket/app"
        recipients = ["\(replicaKey.recipient!)"]
        identity = "offsite.key"

        [replicas.plain]
        url = "s3://bucket/plain"
        """)
        let configuration = try Configuration.load(path: file)
        let storeKeys = try KeySettings(identityFiles: [path("store.key")]).load()
        let offsite = try XCTUnwrap(configuration.replicas["offsite"])
        XCTAssertTrue(offsite.encrypts)
        let keys = try offsite.keys(storeKeys: storeKeys)
        XCTAssertEqual(keys.recipients, [replicaKey.recipient!])
        XCTAssertEqual(keys.identitySources, [path("store.key"), path("offsite.key")])
        XCTAssertTrue(keys.canDecrypt([replicaKey.recipient!.description]))
        XCTAssertTrue(keys.canDecrypt([storeKey.recipient!.description]))
        let plain = try XCTUnwrap(configuration.replicas["plain"])
        XCTAssertFalse(plain.encrypts)
        XCTAssertEqual(try plain.keys(storeKeys: storeKeys).recipients, [], "a replica without recipients gets copies as stored")
        XCTAssertEqual(try plain.keys(storeKeys: storeKeys).identitySources, [path("store.key")])
        for (text, message) in [
            ("[replicas.r]\nurl = \"s3://bucket/x\"\nrecipients = [1]\n", ":3: 'recipients' must be a list of age public keys"),
            ("[replicas.r]\nurl = \"s3://bucket/x\"\npassphrase_work_factor = 12\n", ":1: [replicas.r] has passphrase_work_factor but no passphrase_file"),
            ("[replicas.r]\nurl = \"s3://bucket/x\"\nrecipients_file = \"\"\n", ":3: 'recipients_file' must be a non-empty string"),
        ] {
            XCTAssertThrowsError(try Configuration.load(path: try write(text, to: "bad.toml"))) { error in
                XCTAssertTrue("\(error)".contains(path("bad.toml") + message), "\(error) should contain \(message)")
            }
        }
        // A recipient that is not a key is found when the replica is opened, before anything is sent.
        let bad = try Configuration.load(path: try write("[replicas.r]\nurl = \"s3://bucket/x\"\nrecipients = [\"age1nope\"]\n", to: "bad.toml"))
        XCTAssertThrowsError(try bad.replicas["r"]!.keys(storeKeys: storeKeys))
    }

    func testKeysComeFromTheChosenEntryAndIdentitiesFromFlagsThenEntryThenEnvironmentThenFile() throws {
        let file = try write("""
        db = "app.db"
        recipients = ["age1aaa"]
        identity = "top.key"

        [databases.accounts]
        db = "accounts.db"
        passphrase_file = "pass.txt"
        passphrase_work_factor = 12
        identity = ["a.key", "b.key"]

        [databases.logs]
        db = "logs.db"
        """)
        let configuration = try Configuration.load(path: file)
        let top = try Target.resolve(.init(), configuration: configuration, environment: [:])
        XCTAssertEqual(top.keys, KeySettings(recipients: ["age1aaa"], identityFiles: [path("top.key")]))
        // The environment beats the file's top level, not a named entry; flags beat both.
        let env = ["BACKSTOP_IDENTITY": path("env.key"), "BACKSTOP_PASSPHRASE_FILE": path("env-pass.txt")]
        let topWithEnvironment = try Target.resolve(.init(), configuration: configuration, environment: env)
        XCTAssertEqual(topWithEnvironment.keys, KeySettings(recipients: ["age1aaa"], identityFiles: [path("env.key")],
                                                            passphraseFile: path("env-pass.txt")))
        let accounts = try Target.resolve(.init(databaseName: "accounts"), configuration: configuration, environment: env)
        XCTAssertEqual(accounts.keys, KeySettings(encryptingPassphraseFile: path("pass.txt"), passphraseWorkFactor: 12,
                                                  identityFiles: [path("a.key"), path("b.key")], passphraseFile: path("env-pass.txt")),
                       "a named entry that sets a recipient replaces the top level's recipients")
        let flags = try Target.resolve(.init(databaseName: "accounts", identityFiles: [path("flag.key")], passphraseFile: path("flag-pass.txt")),
                                       configuration: configuration, environment: env)
        XCTAssertEqual(flags.keys.identityFiles, [path("flag.key")])
        XCTAssertEqual(flags.keys.passphraseFile, path("flag-pass.txt"))
        XCTAssertEqual(flags.keys.encryptingPassphraseFile, path("pass.txt"), "a passphrase to read with never changes the recipients")
        let logs = try Target.resolve(.init(databaseName: "logs"), configuration: configuration, environment: [:])
        XCTAssertEqual(logs.keys, KeySettings(recipients: ["age1aaa"], identityFiles: [path("top.key")]), "an entry without keys inherits the file's")
        for (text, message) in [
            ("recipients = \"\"\n", ":1: 'recipients' must be a list of age public keys"),
            ("recipients = [1]\n", ":1: 'recipients' must be a list of age public keys"),
            ("passphrase_work_factor = 40\n", ":1: 'passphrase_work_factor' must be a whole number from 1 to 22"),
            ("identity = []\n", ":1: 'identity' must be a list of paths of identity files"),
        ] {
            XCTAssertThrowsError(try Configuration.load(path: try write(text, to: "bad.toml"))) { error in
                XCTAssertTrue("\(error)".contains(message), "\(error)")
            }
        }
        // Bad keys are usage errors naming where, never showing a secret.
        XCTAssertThrowsError(try KeySettings(recipients: ["age1aaa"]).load()) { error in
            XCTAssertEqual("\(error)", "not an age public key (age1 followed by 58 characters); nothing was changed")
        }
        XCTAssertThrowsError(try KeySettings(identityFiles: [path("missing.key")]).load()) { error in
            XCTAssertTrue("\(error)".hasPrefix("cannot read the identity file \(path("missing.key")): No such file"), "\(error)")
        }
        _ = try write("\n", to: "empty-pass.txt")
        XCTAssertThrowsError(try KeySettings(passphraseFile: path("empty-pass.txt")).load()) { error in
            XCTAssertTrue("\(error)".hasPrefix("the passphrase file \(path("empty-pass.txt")) is empty"), "\(error)")
        }
        XCTAssertThrowsError(try KeySettings(identityFiles: ["/dev/zero"]).load()) { error in
            XCTAssertEqual("\(error)", "the identity file /dev/zero is not a regular file; nothing was changed")
        }
    }
}
