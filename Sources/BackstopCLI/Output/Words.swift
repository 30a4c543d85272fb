import BackstopKit
import Foundation

/// What a command was working on, so that the commands Backstop suggests next reach the same database
/// and store from wherever they are run.
struct Context: Sendable {
    var database: String?
    var store: String?
    var migrations: String?
    var ignoreGuard = false
    /// The run was confirmed in advance (--yes): suggested commands that change things are too, so that
    /// they work as printed where nobody can be asked.
    var confirmed = false

    /// `backstop VERB ARGS --db DB --store STORE`, with every path quoted for the shell. `changes`: the
    /// command changes a database, and carries --yes when this run did.
    func command(_ verb: String, _ arguments: [String] = [], database: Bool = true, store: Bool = true, migrations: Bool = false,
                 changes: Bool = false) -> String {
        var words = ["backstop", verb] + arguments + (changes && confirmed ? ["--yes"] : [])
        if database, let db = self.database { words += ["--db", db] }
        if store, let st = self.store { words += ["--store", st] }
        if migrations, let dir = self.migrations, FileSystem.isDirectory(dir) { words += ["--dir", dir] }
        if migrations && ignoreGuard { words.append("--ignore-guard") }
        return words.map(Words.shellQuoted).joined(separator: " ")
    }
}

/// Every word the command line says about the domain's errors, remedies and notices. The domain names
/// what happened; only here do flags and commands appear.
enum Words {
    /// A word safe to paste into a shell: quoted when it holds anything but plain characters.
    static func shellQuoted(_ word: String) -> String {
        let plain = word.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_./=:@%+,".unicodeScalars.contains($0) }
        return plain && !word.isEmpty ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    static func remedy(_ remedy: Remedy, _ context: Context) -> String {
        switch remedy {
        case .waitForLock: return "wait for the other run to finish, or raise --lock-wait"
        case .listSnapshots: return "see the snapshots with: \(context.command("list", database: false))"
        case .chooseAnotherSnapshot:
            return "do not restore from this snapshot; pick another with '\(context.command("list", database: false))' and check it with 'backstop verify ID --deep'"
        case .restoreToNewFile(let id): return "write it to a new file instead: \(context.command("restore", [id, "--to", "PATH"], database: false))"
        case .chooseAnotherPathOrReplace: return "choose another path, or add --force to replace it"
        case .removeSideFiles(let paths):
            return "if no process uses the database, remove them (rm -- \(paths.map(shellQuoted).joined(separator: " "))); or restore to another path"
        case .runAsOwner: return "run the restore as the file's owner, or restore to a new path"
        case .stopUserOrRestoreLive(let database, let id):
            var live = context
            live.database = database
            return "stop it first, or restore into it as a live database with: \(live.command("restore", [id], changes: true))"
        case .stopUserOrChooseAnotherPath: return "stop it first, or restore to another path"
        case .allowFailedCheck: return "pick an earlier snapshot with 'backstop list', or add --allow-failed-check if this damaged copy is the best there is"
        case .allowOtherDatabase: return "add --other-database if you really mean to copy its rows into this database"
        case .runAgain: return "run the command again to see the new plan"
        case .recoverChildren: return "add --children, or recover the missing rows too"
        case .diff(let id): return "see what the live database holds: \(context.command("diff", [id]))"
        case .setColumn(let table, let column): return "supply it with --set \(shellQuoted("\(table).\(column)=VALUE"))"
        case .renameOrSet(let table, let column):
            return "rename or remove the live row first, or give the recovered one another value with --set \(shellQuoted("\(table).\(column)=VALUE"))"
        case .fixMigration(let rehearsal):
            return rehearsal ? "fix the migration and rehearse again with --dry-run"
                : "fix the migration (rehearse with '\(context.command("migrate", ["--dry-run"], migrations: true))'), then run migrate again"
        case .goBack(let version):
            return "restore is the primary way back: \(context.command("rollback", ["--to", String(version)], migrations: true, changes: true))"
        case .rollback(let version, let target) where version == target:
            return "restore is the primary way back: \(context.command("rollback", ["--to", String(version)], migrations: true, changes: true))"
        case .rollback(let version, let target):
            return "restore is the primary way back, to version \(version) (no snapshot was taken at \(target)): \(context.command("rollback", ["--to", String(version)], migrations: true, changes: true)); then forward to \(target): \(context.command("migrate", ["--to", String(target)], store: false, migrations: true, changes: true))"
        case .migrationStatus: return "see '\(context.command("status", store: false, migrations: true))'"
        case .waitForGuard: return "wait until these rows are gone (for example, stop the running sessions), or add --ignore-guard"
        case .chooseMigrationsFolder: return "give --dir, or set migrations in backstop.toml"
        case .chooseDatabase(let names):
            return "give --db PATH, set BACKSTOP_DB, or set db in backstop.toml" + (names.isEmpty ? "" : " (or choose one with --database: \(names.joined(separator: ", ")))")
        case .freeSpace(let path, let store):
            return "free some space on the disk holding \(path) (df -h \(shellQuoted(path)))\(store ? "; 'backstop prune' removes old snapshots" : ""), then run the command again"
        case .removeUnsafeFile(let path): return "remove it (rm -- \(shellQuoted(path))): only Backstop should create it; find out who planted it, then run the command again"
        case .restoreToNewFileAnyPageSize: return "restore it to a new file with --to"
        case .adopt(let old, let new):
            var adopting = context
            adopting.database = new
            return "adopt them with: \(adopting.command("adopt", [old]))"
        case .confirm: return "add --yes to confirm (standard input is not a terminal, so Backstop cannot ask)"
        case .giveIdentity(let recipients) where recipients == ["passphrase"]:
            return "give the passphrase it was encrypted with: --passphrase-file FILE (or BACKSTOP_PASSPHRASE_FILE, or passphrase_file in backstop.toml)"
        case .giveIdentity(let recipients):
            return "give the secret key of \(recipients.count == 1 ? recipients[0] : "one of " + recipients.joined(separator: ", ")): --identity FILE (or BACKSTOP_IDENTITY, or identity in backstop.toml)"
        case .checkCredentials(let source):
            return "check the access key and secret (they came from \(source)); set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the replica's profile in backstop.toml"
        case .createBucket(let bucket):
            return "create the bucket (aws s3 mb s3://\(bucket)), or correct the replica's url or endpoint in backstop.toml"
        case .fixClock: return "set this machine's clock right (timedatectl set-ntp true, or chronyc makestep), then run the command again"
        case .checkPermissions(let source):
            return "grant the credentials from \(source) the permission (s3:GetObject, s3:PutObject, s3:DeleteObject, s3:ListBucket, s3:AbortMultipartUpload)"
        case .checkConnection(let endpoint):
            return "check that \(endpoint) is reachable, then run the command again; 'backstop push' sends what is missing"
        case .setRegion(let region):
            return "set region = \"\(region ?? "REGION")\" in the replica's [replicas.NAME] in backstop.toml (or AWS_REGION)"
        case .setEndpoint(let endpoint):
            return "set endpoint = \"\(endpoint ?? "https://HOST")\" (and its region) in the replica's [replicas.NAME] in backstop.toml (or AWS_ENDPOINT_URL)"
        }
    }

    /// The words for an error: the message, the next step, and the exit status.
    static func error(_ error: Error, _ context: Context) -> (message: String, hint: String?, status: ExitStatus) {
        switch error {
        case let error as BackstopError:
            return (error.description, error.remedy.map { remedy($0, context) }, ExitStatus(error.kind))
        case let error as MigrationFailure:
            return (error.description, remedy(error.remedy, context), .migrationFailed)
        case let error as MigrationProblemsError:
            let lines = error.problems.map { "\n  - \($0.message) (\(overrideWords($0.kind)))" }.joined()
            return ("migrate refuses to run while these problems stand; nothing was changed:" + lines,
                    remedy(.migrationStatus, context), .checkFailed)
        case let error as DatabaseFileError:
            return (error.description, "check --db (or BACKSTOP_DB, or db in backstop.toml)", .failure)
        case let error as WriteLockBusy:
            let locked = BackstopError.locked(what: "the database \(error.path)", holder: FileSystem.busyHolder(error.path), waited: error.waited)
            return (locked.description, remedy(.waitForLock, context), .locked)
        case let error as SQLiteError where error.isBusy:
            let database = context.database.map { "the database \($0)" } ?? "the database"
            let holder = context.database.map { FileSystem.busyHolder($0, doing: "using it") } ?? "another connection"
            return (BackstopError.locked(what: database, holder: holder, waited: 0).description, remedy(.waitForLock, context), .locked)
        case let error as SQLiteError where error.isDiskFull:
            // A full disk SQLite met while writing the database: its transaction was rolled back.
            let folder = context.database.map { ($0 as NSString).deletingLastPathComponent } ?? "."
            return ("the disk holding \(folder) is full (SQLite: \(error.message)); the change was rolled back",
                    remedy(.freeSpace(path: folder, store: false), context), .failure)
        case let error as SQLiteError:
            return ("SQLite: \(error.description)", nil, .failure)
        default:
            return ("\(error)", nil, .failure)
        }
    }

    /// The flag that lets a run proceed despite a problem of this kind, or what to do instead.
    static func overrideWords(_ kind: MigrationProblem.Kind) -> String {
        switch kind {
        case .changed: return "override: --allow-changed, or accept the edit with 'backstop repair'"
        case .missing: return "override: --allow-missing"
        case .duplicateVersion: return "override: --allow-duplicate-versions"
        case .outOfOrder: return "override: --allow-out-of-order"
        case .invalid: return "fix the file"
        case .toolFailed: return "fix it with that tool, or restore the snapshot taken before the failed run"
        }
    }

    /// How a snapshot is encrypted, short: "-", "age (1 key)", "age (passphrase)".
    static func encryption(_ encryption: Manifest.Encryption?) -> String {
        guard let encryption else { return "-" }
        if encryption.recipients == ["passphrase"] { return "passphrase" }
        return encryption.recipients.count == 1 ? "age1…\(encryption.recipients[0].suffix(6))" : "\(encryption.recipients.count) keys"
    }

    /// A notice in words, and whether it is a warning (shown even with --quiet).
    static func notice(_ notice: Notice) -> (Line, Bool) {
        switch notice {
        case .tookOverLock(let what, let previous):
            return ("note: took over the lock on \(what): \(previous)", false)
        case .damagedNewestSnapshot(let id, let database):
            return ("the newest snapshot \(id) of \(database) is damaged (see 'backstop verify'), so nothing was compared with it; a new snapshot is taken", true)
        case .storeReadableByOthers(let path, let mode):
            return ("the store \(path) can be read by other users (mode \(String(format: "%04o", mode))), and snapshots hold whole databases; make it private with: chmod 700 \(Words.shellQuoted(path))", true)
        case .removedStaleFiles(let names, let directory):
            return ("note: removed \(names.count) temporary file\(names.count == 1 ? "" : "s") an interrupted run left in \(directory)", false)
        case .notChecked(let what, let reasons):
            return ("note: \(what) could not check: \(reasons.joined(separator: "; "))", false)
        case .notEncrypted(let id, let previous):
            return ("snapshot \(id) is NOT encrypted (no recipients are set), although the previous one, \(previous), is: is backstop.toml (with its recipients) being read? Give --config FILE, or run from its folder", true)
        }
    }

    /// Why a snapshot was picked, in words.
    static func selection(_ selected: SelectedSnapshot) -> Line {
        let m = selected.manifest
        switch selected.selection {
        case .id: return "snapshot \(m.id)"
        case .latest:
            var text: Line = "the newest snapshot, \(m.id) (\(m.createdAt), \(m.kind))"
            if !selected.skipped.isEmpty {
                text = text + " (passed over the newer safety snapshot\(raw: selected.skipped.count == 1 ? "" : "s") \(selected.skipped.map(\.id).joined(separator: ", ")): choose one with --kind)"
            }
            return text
        case .at(let date):
            return "the snapshot current at \(Timestamp.rfc3339(date)): \(m.id) (\(m.createdAt))"
        case .beforeMigration(let version):
            return "the pre-migration snapshot \(m.id) (\(m.createdAt)), taken just before migration \(version) was applied"
        }
    }

    /// A snapshot's check, as `list` shows it: ok, FAILED, partial, not run, or "-" (not recorded).
    static func check(_ check: ImageCheck?) -> String {
        guard let check else { return "-" }
        switch check.ok {
        case .some(true): return check.notChecked.isEmpty ? "ok" : "partial"
        case .some(false): return "FAILED"
        case .none: return "not run"
        }
    }
}
