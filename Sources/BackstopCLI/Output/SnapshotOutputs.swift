import BackstopKit
import Foundation

// The JSON documents of the snapshot, restore, retention and recovery commands. Each carries
// `"schema": "backstop.COMMAND/1"`; keys are never left out (null when there is no value).

/// `backstop snapshot --json`: one shape whatever happened (`outcome` is `created` or `unchanged`).
struct SnapshotResultJSON: Encodable {
    var schema = JSONOutput.schema("snapshot")
    var database: String
    /// `created`, or `unchanged` (with --if-changed: `snapshot` is the newest one, which matches).
    var outcome: String
    var snapshot: SnapshotJSON
    /// What pushing it to the database's replicas did (empty: no replicas, or --no-push).
    var pushed: [PushJSON.Replica] = []
}

/// `backstop list --json`.
struct ListJSON: Encodable {
    var schema = JSONOutput.schema("list")
    var store: String
    var snapshots: [SnapshotJSON]
    /// Files in the store that are not complete snapshots, and why.
    var notListed: [FileProblemJSON]

    enum CodingKeys: String, CodingKey { case schema, store, snapshots, notListed = "not_listed" }
}

struct FileProblemJSON: Encodable {
    var file: String
    var reason: String
}

/// `backstop show ID --json`.
struct ShowJSON: Encodable {
    var schema = JSONOutput.schema("show")
    var snapshot: SnapshotJSON
    var dataFile: String

    enum CodingKeys: String, CodingKey { case schema, snapshot, dataFile = "data_file" }
}

/// `backstop verify --json`.
struct VerifyJSON: Encodable {
    var schema = JSONOutput.schema("verify")
    var store: String
    @Null var database: String?
    var deep: Bool
    /// True only when there was something to verify and all of it verified.
    var ok: Bool
    var snapshots: [VerifiedJSON]
    /// Manifests that cannot be read (damage too: a complete manifest is written atomically).
    var unreadable: [FileProblemJSON]

    struct VerifiedJSON: Encodable {
        var id: String
        /// `ok`, `failed` or `gone` (pruned while verify ran: not damage).
        var status: String
        var problems: [String]
        var notChecked: [String]
        var notes: [String]

        enum CodingKeys: String, CodingKey { case id, status, problems, notChecked = "not_checked", notes }
    }
}

/// `backstop restore --json` and `backstop rollback --json`.
struct RestoreJSON: Encodable {
    var schema: String
    var restored: SnapshotJSON
    /// How the snapshot was chosen: `id`, `latest`, `at`, `before-migration`, `rollback`.
    var selectedBy: String
    /// The live database, or the new file.
    var target: String
    var toFile: Bool
    @Null var preRestore: SnapshotJSON?
    var durationMs: Int
    var convertedPageSize: Bool
    var notes: [String]
    /// The command that undoes a live restore.
    @Null var undo: String?
    /// For rollback: the versions the undone run applied (empty with --to).
    var undoneVersions: [Int64]

    enum CodingKeys: String, CodingKey {
        case schema, restored, selectedBy = "selected_by", target, toFile = "to_file", preRestore = "pre_restore"
        case durationMs = "duration_ms", convertedPageSize = "converted_page_size", notes, undo, undoneVersions = "undone_versions"
    }
}

/// `backstop prune --json`.
struct PruneJSON: Encodable {
    var schema = JSONOutput.schema("prune")
    var store: String
    var policy: String
    @Null var database: String?
    var dryRun: Bool
    var keep: [VerdictJSON]
    var remove: [VerdictJSON]
    var freedBytes: Int64
    var staleFilesRemoved: [String]
    var warnings: [String]
    var notSnapshots: [FileProblemJSON]
    /// The replicas pruned after this store (same shape).
    var replicas: [PruneJSON] = []

    struct VerdictJSON: Encodable {
        var snapshot: SnapshotJSON
        var reasons: [String]
    }

    enum CodingKeys: String, CodingKey {
        case schema, store, policy, database, dryRun = "dry_run", keep, remove, freedBytes = "freed_bytes"
        case staleFilesRemoved = "stale_files_removed", warnings, notSnapshots = "not_snapshots", replicas
    }
}

/// `backstop pin --json` and `backstop unpin --json`.
struct PinJSON: Encodable {
    var schema: String
    var snapshot: SnapshotJSON
    /// The database's replicas: whether each holds the snapshot (and now has the same pin), or why not.
    var replicas: [Replica]

    struct Replica: Encodable {
        var name: String
        var location: String
        var ok: Bool
        var holds: Bool
        @Null var error: String?
    }
}

/// `backstop policy explain --json`.
struct ExplainJSON: Encodable {
    var schema = JSONOutput.schema("policy-explain")
    var keep: [Item]
    var remove: [Item]
    var warnings: [String]

    struct Item: Encodable {
        var line: Int
        var time: String
        var kind: String
        var pinned: Bool
        var reasons: [String]
    }
}

/// `backstop policy check --json`.
struct PolicyCheckJSON: Encodable {
    var schema = JSONOutput.schema("policy-check")
    var file: String
    var ok: Bool
    var words: String
}

/// `backstop policy simulate --json`.
struct SimulateJSON: Encodable {
    var schema = JSONOutput.schema("policy-simulate")
    var taken: Int
    var kept: Int
    var peak: Int
    var bytes: Int64
    var peakBytes: Int64
    var byRule: [String: Int]

    enum CodingKeys: String, CodingKey { case schema, taken, kept, peak, bytes, peakBytes = "peak_bytes", byRule = "by_rule" }
}

/// `backstop diff --json`.
struct DiffJSON: Encodable {
    var schema = JSONOutput.schema("diff")
    var snapshot: String
    /// `live`, or the other snapshot's id.
    var against: String
    var tables: [Table]
    var schemaChanges: SchemaChanges

    struct Table: Encodable {
        var table: String
        var deleted: Int64
        var inserted: Int64
        var changed: Int64
        var key: [String]
        @Null var note: String?
        @Null var rows: Rows?
    }

    struct Rows: Encodable {
        var deleted: [[String: JSONValue]]
        var inserted: [[String: JSONValue]]
        var changed: [Change]
        var truncated: Bool
    }

    struct Change: Encodable {
        var key: [JSONValue]
        var before: [String: JSONValue]
        var after: [String: JSONValue]
    }

    struct SchemaChanges: Encodable {
        var tablesAdded: [String]
        var tablesRemoved: [String]
        var columnsAdded: [String: [String]]
        var columnsRemoved: [String: [String]]

        enum CodingKeys: String, CodingKey {
            case tablesAdded = "tables_added", tablesRemoved = "tables_removed", columnsAdded = "columns_added", columnsRemoved = "columns_removed"
        }
    }

    enum CodingKeys: String, CodingKey { case schema, snapshot, against, tables, schemaChanges = "schema_changes" }
}

/// `backstop recover --json`.
struct RecoverJSON: Encodable {
    var schema = JSONOutput.schema("recover")
    var snapshot: String
    var database: String
    var dryRun: Bool
    /// Rows of the table in the snapshot that match the condition (0: nothing matched, exit status 3).
    var matched: Int
    var alreadyPresent: Int
    var tables: [TableCount]
    var rows: [Row]
    var repointed: [Repointed]
    var defaultedColumns: [String: [String]]
    @Null var preRecover: SnapshotJSON?
    var checksRun: Int
    var checkFailures: [CheckFailure]

    struct TableCount: Encodable { var table: String; var rows: Int }
    struct Row: Encodable {
        var table: String
        var key: [JSONValue]
        var reason: String
        var values: [String: JSONValue]
    }
    struct Repointed: Encodable {
        var table: String
        var key: [JSONValue]
        var columns: [String]
        var from: [JSONValue]
        var to: [JSONValue]
    }
    struct CheckFailure: Encodable {
        var migration: String
        var line: Int
        var statement: String
        var rows: RowsJSON
    }

    enum CodingKeys: String, CodingKey {
        case schema, snapshot, database, dryRun = "dry_run", matched, alreadyPresent = "already_present", tables, rows, repointed
        case defaultedColumns = "defaulted_columns", preRecover = "pre_recover", checksRun = "checks_run", checkFailures = "check_failures"
    }
}

/// `backstop journal --json`.
struct JournalJSON: Encodable {
    var schema = JSONOutput.schema("journal")
    var store: String
    @Null var database: String?
    var entries: [JournalEntry]
}

/// `backstop adopt --json`.
struct AdoptJSON: Encodable {
    var schema = JSONOutput.schema("adopt")
    var store: String
    var from: String
    var to: String
    /// How many snapshots now count as `to`'s.
    var snapshots: Int
}
