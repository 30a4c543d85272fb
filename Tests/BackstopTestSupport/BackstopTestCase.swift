import BackstopKit
import Foundation
import XCTest

/// Base class for Backstop's tests: each test gets its own temporary folder, removed afterwards.
open class BackstopTestCase: XCTestCase {
    /// This test's private folder.
    public private(set) var tmp: String = ""

    open override func setUpWithError() throws {
        try super.setUpWithError()
        let base = (NSTemporaryDirectory() as NSString).appendingPathComponent("backstop-tests")
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: true)
        var template = Array((base + "/\(type(of: self)).XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw BackstopError.failed("mkdtemp failed") }
        tmp = FileSystem.absolute(String(cString: made))
    }

    open override func tearDownWithError() throws {
        if !tmp.isEmpty { try? FileManager.default.removeItem(atPath: tmp) }
        try super.tearDownWithError()
    }

    public func path(_ name: String) -> String { (tmp as NSString).appendingPathComponent(name) }

    // MARK: - Databases

    /// Creates a database with a table `items(id, name, score, data)` holding `rows` rows.
    @discardableResult
    public func makeDatabase(_ name: String = "app.db", rows: Int = 1000, journalMode: String = "wal",
                             pageSize: Int = 4096) throws -> String {
        let file = path(name)
        let db = try Database(path: file, mode: .create)
        try db.execute("PRAGMA page_size = \(pageSize); PRAGMA journal_mode = \(journalMode)")
        try db.execute("CREATE TABLE items(id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB)")
        try db.inTransaction {
            let insert = try db.prepare("INSERT INTO items(id, name, score, data) VALUES (?1, ?2, ?3, ?4)")
            for i in 0..<rows {
                try insert.bind([.integer(Int64(i + 1)), .text("item \(i) " + String(repeating: "lorem ipsum ", count: i % 20)),
                                 .real(Double(i) / 7), .blob((0..<16).map { UInt8(($0 * 31 + i) & 0xff) })])
                try insert.step()
            }
        }
        return file
    }

    /// A digest of a database's logical content: every table's rows in key order.
    public func contentDigest(_ file: String) throws -> String {
        let db = try Database(path: file, mode: .readOnly)
        let hasher = SHA256Hasher()
        let tables = try db.rows("SELECT name, sql FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")
        for table in tables {
            let name = table[0].string!
            hasher.update(Data("table \(name) \(table[1].string ?? "")\n".utf8))
            for row in try db.rows("SELECT * FROM \(quoteIdentifier(name)) ORDER BY 1") {
                hasher.update(Data((row.map(\.description).joined(separator: "|") + "\n").utf8))
            }
        }
        return hasher.finalizeHex()
    }

    public func count(_ file: String, _ table: String = "items") throws -> Int64 {
        try Database(path: file, mode: .readOnly).int("SELECT count(*) FROM \(quoteIdentifier(table))")
    }

    public func execute(_ file: String, _ sql: String) throws {
        try Database(path: file, mode: .readWrite).execute(sql)
    }

    // MARK: - Running the built programs

    /// The folder holding the built products (`.build/debug`).
    public static var productsDirectory: String {
        if let override = ProcessInfo.processInfo.environment["BACKSTOP_PRODUCTS"] { return override }
        var url = Bundle.main.bundleURL
        if url.pathExtension != "xctest" {
            url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        }
        // On Linux the test runner is .build/<config>/<Package>PackageTests.xctest
        return url.deletingLastPathComponent().path
    }

    /// The package's root folder (where README.md and Makefile are).
    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
        }
        return FileManager.default.currentDirectoryPath
    }()

    public static var backstopPath: String { (productsDirectory as NSString).appendingPathComponent("backstop") }
    public static var loadgenPath: String { (productsDirectory as NSString).appendingPathComponent("backstop-loadgen") }

    public struct RunResult {
        /// The exit status (-1 when a signal ended the program).
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// The signal that ended the program, or 0 when it exited.
        public var signal: Int32 = 0
    }

    /// Runs the `backstop` binary in this test's folder and waits for it. The result must be looked at.
    public func backstop(_ arguments: [String], environment: [String: String] = [:], stdin: String? = nil,
                         file: StaticString = #filePath, line: UInt = #line) throws -> RunResult {
        try run(BackstopTestCase.backstopPath, arguments, environment: environment, stdin: stdin)
    }

    /// Takes a snapshot with `backstop snapshot --db DB ARGS`, checks that it succeeded, and returns its id.
    public func takeSnapshot(_ db: String = "app.db", _ arguments: [String] = [], environment: [String: String] = [:],
                             file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let result = try backstop(["snapshot", "--db", db] + arguments, environment: environment)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        let id = result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(Manifest.isValidID(id), "not a snapshot id: \(result.stdout)", file: file, line: line)
        return id
    }

    /// Runs a program in this test's folder, with a clean Backstop environment, and waits for it.
    public func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                    stdin: String? = nil) throws -> RunResult {
        let process = try start(executable, arguments, environment: environment, stdin: stdin)
        let out = process.standardOutput as! Pipe
        let err = process.standardError as! Pipe
        // Read both pipes to the end before waiting, so a chatty child never blocks.
        let outData = Guarded<Data?>(nil)
        let reader = out.fileHandleForReading
        Thread { let data = reader.readDataToEndOfFile(); outData.withLock { $0 = data } }.start()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        let stdout = outData.wait { $0 }
        process.waitUntilExit()
        let signaled = process.terminationReason == .uncaughtSignal
        return RunResult(status: signaled ? -1 : process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self), signal: signaled ? process.terminationStatus : 0)
    }

    /// Starts a program in this test's folder with pipes for its output; the caller waits or kills.
    public func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:],
                      stdin: String? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: tmp)
        var env = ProcessInfo.processInfo.environment
        for key in ["BACKSTOP_DB", "BACKSTOP_STORE", "NO_COLOR"] { env.removeValue(forKey: key) }
        env.merge(environment) { $1 }
        process.environment = env
        process.standardOutput = Pipe()
        process.standardError = Pipe()
        let input = Pipe()
        process.standardInput = input
        try process.run()
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        try? input.fileHandleForWriting.close()
        return process
    }

    /// Parses a command's JSON output.
    public func json(_ result: RunResult, file: StaticString = #filePath, line: UInt = #line) throws -> Any {
        guard let data = result.stdout.data(using: .utf8), let object = try? JSONSerialization.jsonObject(with: data) else {
            XCTFail("not JSON (status \(result.status)): \(result.stdout)\n\(result.stderr)", file: file, line: line)
            throw BackstopError.failed("not JSON")
        }
        return object
    }
}

// MARK: - Short forms of library calls the tests make often

extension Restorer {
    /// `restoreToFile` with only `force` set.
    public static func restoreToFile(_ manifest: Manifest, store: SnapshotStore, path: String, force: Bool) throws -> RestoreReport {
        var options = RestoreOptions()
        options.force = force
        return try restoreToFile(manifest, store: store, path: path, options: options)
    }
}

extension Recoverer {
    /// `recover` as a dry run or a real run, without confirmation.
    public static func recover(_ snapshot: Manifest, store: SnapshotStore, database: String, request: RecoveryRequest,
                               dryRun: Bool, allowOtherDatabase: Bool = false) throws -> RecoveryReport {
        var options = RecoveryOptions()
        options.dryRun = dryRun
        options.allowOtherDatabase = allowOtherDatabase
        return try recover(snapshot, store: store, database: database, request: request, options: options)
    }
}

// MARK: - JSON documents of the command line

extension BackstopTestCase {
    /// A command's JSON document (an object), checked to carry the schema of that command.
    public func document(_ result: RunResult, schema: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> [String: Any] {
        guard let object = try json(result, file: file, line: line) as? [String: Any] else {
            XCTFail("not a JSON object: \(result.stdout)", file: file, line: line)
            throw BackstopError.failed("not a JSON object")
        }
        if let schema { XCTAssertEqual(object["schema"] as? String, "backstop.\(schema)/1", file: file, line: line) }
        return object
    }

    /// The snapshots `backstop list --json` prints, with these arguments.
    public func listed(_ arguments: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let result = try backstop(["list", "--json"] + arguments)
        XCTAssertEqual(result.status, 0, result.stderr, file: file, line: line)
        return try document(result, schema: "list", file: file, line: line)["snapshots"] as! [[String: Any]]
    }
}
