import BackstopCore
import BackstopSQLite
import BackstopStore
import Foundation

/// Read-only SQL against a snapshot, read in place through the snapshot VFS: nothing is decompressed to
/// disk, and memory stays bounded (the VFS's block cache and SQLite's page cache).
public enum SnapshotQuery {
    /// Runs one read-only statement on `manifest`'s image; `onColumns` gets the column names, `onRow` each
    /// row as it comes (return false to stop). Returns how many rows were read.
    @discardableResult
    public static func run(_ sql: String, on manifest: Manifest, store: any SnapshotRepository, extensions: [String] = [],
                           onColumns: ([String]) throws -> Void, onRow: ([SQLiteValue]) throws -> Bool) throws -> Int {
        let statements = SQLScript.split(sql)
        guard statements.count == 1, let statement = statements.first else {
            throw BackstopError.invalidInput(statements.isEmpty ? "no SQL to run" : "give one statement at a time (this holds \(statements.count))")
        }
        let file = try SnapshotFile(manifest, in: store)
        let db = try file.openDatabase()
        for path in extensions { try db.loadExtension(path) }
        let prepared: Statement
        do {
            prepared = try db.prepare(statement.sql)
        } catch let error as SQLiteError {
            throw BackstopError.invalidInput("the query cannot run on snapshot \(manifest.id): \(error.message)")
        }
        guard prepared.isReadOnly else {
            throw BackstopError.invalidInput("a snapshot is read-only: '\(oneLine(statement.sql))' would change it (restore it to a new file with 'restore --to' to change a copy)")
        }
        try onColumns(prepared.columnNames)
        var count = 0
        do {
            while try prepared.step() {
                count += 1
                if try !onRow(prepared.row()) { break }
            }
        } catch let error as SQLiteError where error.isCorrupt || error.primaryCode == .SQLITE_IOERR {
            throw BackstopError.verificationFailed(id: manifest.id, reason: error.message)
        }
        return count
    }
}
