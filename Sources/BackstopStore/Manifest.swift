import BackstopAge
import BackstopCore
import BackstopSQLite
import BackstopCodec
import Foundation

/// The self-description written beside every snapshot file, as `<id>.json`.
/// A snapshot exists only once its manifest is in place.
public struct Manifest: Codable, Equatable, Sendable {
    public static let currentFormat = "backstop-snapshot/2"
    /// The format of encrypted snapshots: /2 with `encryption`. Versions that predate encryption refuse
    /// it by name rather than misread the file.
    public static let encryptedFormat = "backstop-snapshot/3"
    /// Formats this version reads: /1 lacks `sequence` and `check`.
    public static let readableFormats: Set<String> = ["backstop-snapshot/1", currentFormat, encryptedFormat]

    public var format: String
    /// Sortable by time: `20261122T101500123Z`.
    public var id: String
    /// The order in which snapshots were committed to the store (1, 2, 3 ...): unlike `created_at`, a clock
    /// that was once wrong cannot reorder it. Nil for snapshots written before it existed.
    public var sequence: Int64?
    /// The instant the snapshot's contents were current (RFC 3339, UTC, milliseconds).
    public var createdAt: String
    public var kind: SnapshotKind
    public var label: String?
    /// The data file's name in the store: `<id>.sqlite.gz`, or `<id>.sqlite.gz.age` when encrypted.
    public var file: String
    /// Absolute path of the source database.
    public var database: String
    public var dbBytes: Int64
    /// Bytes of the data file as stored (encrypted, when it is).
    public var compressedBytes: Int64
    /// SHA-256 of the uncompressed database image.
    public var sha256: String
    /// SHA-256 of the data file as stored (encrypted, when it is).
    public var compressedSha256: String
    public var pageSize: Int
    public var pageCount: Int
    /// The highest migration version applied in the image, or nil when it has no migration history.
    public var schemaVersion: Int64?
    public var sqliteVersion: String
    public var toolVersion: String
    public var durationMs: Int
    public var pinned: Bool
    public var pinNote: String?
    public var journalMode: JournalMode
    public var compressionLevel: Int
    /// For `pre-migration` snapshots: the migrations the run was about to apply.
    public var migrations: [Int64]?
    /// What SQLite's check of the image found when the snapshot was taken (nil: not checked).
    public var check: ImageCheck?
    /// Where the application's own migrator had brought the database (nil: none detected).
    public var appMigrations: AppMigrationState?
    /// For snapshots taken by `run`: the command that was about to run.
    public var command: String?
    /// For encrypted snapshots: who can decrypt them, and the gzip stream inside.
    public var encryption: Encryption?

    /// How an encrypted snapshot is encrypted. Nothing here is secret.
    public struct Encryption: Codable, Equatable, Sendable {
        /// `age-encryption.org/v1`.
        public var format: String
        /// The public keys (`age1…`) it is encrypted to, or `passphrase`.
        public var recipients: [String]
        /// Bytes and SHA-256 of the gzip stream that `age -d` yields.
        public var gzipBytes: Int64
        public var gzipSha256: String

        public static let ageFormat = "age-encryption.org/v1"

        public init(recipients: [String], gzipBytes: Int64, gzipSha256: String) {
            format = Encryption.ageFormat
            self.recipients = recipients; self.gzipBytes = gzipBytes; self.gzipSha256 = gzipSha256
        }

        enum CodingKeys: String, CodingKey {
            case format, recipients, gzipBytes = "gzip_bytes", gzipSha256 = "gzip_sha256"
        }
    }

    /// Bytes and SHA-256 of the gzip stream: the file itself, or what decrypting it yields.
    public var gzipBytes: Int64 { encryption?.gzipBytes ?? compressedBytes }
    public var gzipSha256: String { encryption?.gzipSha256 ?? compressedSha256 }

    public var createdDate: Date { Timestamp.parseRFC3339(createdAt) ?? .distantPast }

    /// Snapshots in the order they were committed: by sequence (older snapshots without one first, by
    /// time), then by id.
    public static func committedBefore(_ a: Manifest, _ b: Manifest) -> Bool {
        (a.sequence ?? -1, a.createdAt, a.id) < (b.sequence ?? -1, b.createdAt, b.id)
    }

    enum CodingKeys: String, CodingKey {
        case format, id, createdAt = "created_at", kind, label, file, database, dbBytes = "db_bytes"
        case compressedBytes = "compressed_bytes", sha256, compressedSha256 = "compressed_sha256"
        case pageSize = "page_size", pageCount = "page_count", schemaVersion = "schema_version"
        case sqliteVersion = "sqlite_version", toolVersion = "tool_version", durationMs = "duration_ms"
        case pinned, pinNote = "pin_note", journalMode = "journal_mode", compressionLevel = "compression_level"
        case migrations, sequence, check, appMigrations = "app_migrations", command, encryption
    }

    public init(format: String = Manifest.currentFormat, id: String, createdAt: String, kind: SnapshotKind, label: String?,
                file: String, database: String, dbBytes: Int64, compressedBytes: Int64, sha256: String,
                compressedSha256: String, pageSize: Int, pageCount: Int, schemaVersion: Int64?, sqliteVersion: String,
                toolVersion: String, durationMs: Int, pinned: Bool = false, pinNote: String? = nil,
                journalMode: JournalMode, compressionLevel: Int, migrations: [Int64]? = nil, sequence: Int64? = nil,
                check: ImageCheck? = nil, appMigrations: AppMigrationState? = nil, command: String? = nil,
                encryption: Encryption? = nil) {
        self.format = format; self.id = id; self.createdAt = createdAt; self.kind = kind; self.label = label
        self.file = file; self.database = database; self.dbBytes = dbBytes; self.compressedBytes = compressedBytes
        self.sha256 = sha256; self.compressedSha256 = compressedSha256; self.pageSize = pageSize
        self.pageCount = pageCount; self.schemaVersion = schemaVersion; self.sqliteVersion = sqliteVersion
        self.toolVersion = toolVersion; self.durationMs = durationMs; self.pinned = pinned; self.pinNote = pinNote
        self.journalMode = journalMode; self.compressionLevel = compressionLevel; self.migrations = migrations
        self.sequence = sequence; self.check = check; self.appMigrations = appMigrations; self.command = command
        self.encryption = encryption
        if encryption != nil && format == Manifest.currentFormat { self.format = Manifest.encryptedFormat }
    }

    /// Every key is written, with `null` for absent values, so scripts see a stable shape.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(format, forKey: .format)
        try c.encode(id, forKey: .id)
        try c.encode(createdAt, forKey: .createdAt)
        try c.encode(kind, forKey: .kind)
        try c.encode(label, forKey: .label)
        try c.encode(file, forKey: .file)
        try c.encode(database, forKey: .database)
        try c.encode(dbBytes, forKey: .dbBytes)
        try c.encode(compressedBytes, forKey: .compressedBytes)
        try c.encode(sha256, forKey: .sha256)
        try c.encode(compressedSha256, forKey: .compressedSha256)
        try c.encode(pageSize, forKey: .pageSize)
        try c.encode(pageCount, forKey: .pageCount)
        try c.encode(schemaVersion, forKey: .schemaVersion)
        try c.encode(sqliteVersion, forKey: .sqliteVersion)
        try c.encode(toolVersion, forKey: .toolVersion)
        try c.encode(durationMs, forKey: .durationMs)
        try c.encode(pinned, forKey: .pinned)
        try c.encode(pinNote, forKey: .pinNote)
        try c.encode(journalMode, forKey: .journalMode)
        try c.encode(compressionLevel, forKey: .compressionLevel)
        try c.encode(migrations, forKey: .migrations)
        try c.encode(sequence, forKey: .sequence)
        try c.encode(check, forKey: .check)
        try c.encode(appMigrations, forKey: .appMigrations)
        try c.encode(command, forKey: .command)
        // Only encrypted snapshots carry the key, so plain manifests stay readable by earlier versions.
        if let encryption { try c.encode(encryption, forKey: .encryption) }
    }

    // MARK: - Validation of what is read from disk

    /// `20261122T101500123Z`
    public static func isValidID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count == 19, bytes[8] == UInt8(ascii: "T"), bytes[18] == UInt8(ascii: "Z") else { return false }
        return bytes.enumerated().allSatisfy { i, b in i == 8 || i == 18 || (48...57).contains(b) }
    }

    public static func fileName(for id: String, encrypted: Bool = false) -> String { id + (encrypted ? ".sqlite.gz.age" : ".sqlite.gz") }
    /// The suffixes of data files.
    public static let dataSuffixes = [".sqlite.gz", ".sqlite.gz.age"]
    /// The id of a data file's name, or nil when it is not one.
    public static func id(ofDataFile name: String) -> String? {
        for suffix in dataSuffixes.reversed() where name.hasSuffix(suffix) {
            let id = String(name.dropLast(suffix.count))
            return isValidID(id) ? id : nil
        }
        return nil
    }
    public static func manifestName(for id: String) -> String { id + ".json" }

    /// Checks every field that later code relies on: ids and file names that cannot escape the store,
    /// checksums of the right shape, sizes that add up.
    public func validate() throws {
        func bad(_ why: String) -> BackstopError { .invalidInput("manifest \(id): \(why)") }
        guard Manifest.readableFormats.contains(format) else { throw bad("unknown format '\(format)'") }
        if let sequence, sequence < 1 { throw bad("invalid sequence \(sequence)") }
        guard Manifest.isValidID(id) else { throw bad("invalid id") }
        guard file == Manifest.fileName(for: id, encrypted: encryption != nil) else { throw bad("file '\(file)' does not match the id") }
        guard (format == Manifest.encryptedFormat) == (encryption != nil) else { throw bad("format \(format) and encryption do not agree") }
        if let encryption {
            guard encryption.format == Encryption.ageFormat else { throw bad("unknown encryption '\(encryption.format)'") }
            guard !encryption.recipients.isEmpty, encryption.recipients.count <= 1000,
                  encryption.recipients.allSatisfy({ $0 == "passphrase" || (try? AgeRecipient.parse($0)) != nil }) else {
                throw bad("invalid recipients")
            }
            guard SHA256Hasher.isValidHex(encryption.gzipSha256), encryption.gzipBytes > 0,
                  encryption.gzipBytes < compressedBytes else { throw bad("invalid encryption sizes or checksum") }
        }
        guard Timestamp.parseRFC3339(createdAt) != nil else { throw bad("invalid created_at '\(createdAt)'") }
        guard kind.isWellFormed else { throw bad("invalid kind '\(kind)'") }
        guard database.hasPrefix("/") else { throw bad("database '\(database)' is not an absolute path") }
        guard SHA256Hasher.isValidHex(sha256), SHA256Hasher.isValidHex(compressedSha256) else { throw bad("invalid checksum") }
        guard dbBytes >= 0, compressedBytes > 0, pageSize >= 512, pageSize <= 65536, pageCount >= 0,
              Int64(pageSize) * Int64(pageCount) == dbBytes else { throw bad("sizes do not add up") }
    }

    public static func decode(_ data: Data) throws -> Manifest {
        guard data.count <= 1 << 20 else { throw BackstopError.invalidInput("a manifest larger than 1 MiB") }
        let manifest = try JSONDecoder().decode(Manifest.self, from: data)
        try manifest.validate()
        return manifest
    }

    public func encoded() throws -> Data { try StoreJSON.encode(self) }
}

/// What SQLite's check of an image found (`PRAGMA quick_check` when a snapshot is taken).
public struct ImageCheck: Codable, Equatable, Sendable {
    /// `quick_check` or `integrity_check`.
    public var method: String
    /// True: no problem found; false: problems found; nil: the check could not run (see `notChecked`).
    public var ok: Bool?
    /// What the check reported (up to a few lines).
    public var problems: [String]
    /// What could not be checked and why: a collation or function the schema uses that is not defined
    /// here ("index idx_name: collation nocase_utf8").
    public var notChecked: [String]

    public init(method: String, ok: Bool?, problems: [String] = [], notChecked: [String] = []) {
        self.method = method; self.ok = ok; self.problems = problems; self.notChecked = notChecked
    }

    enum CodingKeys: String, CodingKey {
        case method, ok, problems, notChecked = "not_checked"
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(method, forKey: .method)
        try c.encode(ok, forKey: .ok)
        try c.encode(problems, forKey: .problems)
        try c.encode(notChecked, forKey: .notChecked)
    }

    /// True when the check found problems.
    public var failed: Bool { ok == false }
}
