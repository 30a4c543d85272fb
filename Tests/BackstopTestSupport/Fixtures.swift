import BackstopKit
import Foundation
import XCTest

/// Fixtures shared by the test targets: migration folders, the devchain sample, policies.
extension BackstopTestCase {
    /// The bundled devchain example (examples/devchain).
    public static var devchainExample: String { packageRoot + "/examples/devchain" }

    /// Writes `sql` as migration file `name` (`0001_add_note.sql`) in `folder` (created if missing) of
    /// this test's folder; returns its path.
    @discardableResult
    public func writeMigration(_ name: String, _ sql: String, folder: String = "migrations") throws -> String {
        try writeMigration(name, bytes: Data(sql.utf8), folder: folder)
    }

    /// Writes exact bytes as a migration file (a byte-order mark, a NUL byte ...).
    @discardableResult
    public func writeMigration(_ name: String, bytes: Data, folder: String = "migrations") throws -> String {
        let directory = path(folder)
        if !FileManager.default.fileExists(atPath: directory) {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        let file = directory + "/" + name
        try bytes.write(to: URL(fileURLWithPath: file))
        return file
    }

    /// Writes a retention policy file in this test's folder; returns its path.
    @discardableResult
    public func writePolicy(_ text: String, name: String = "policy.toml") throws -> String {
        try text.write(toFile: path(name), atomically: true, encoding: .utf8)
        return path(name)
    }

    /// The devchain sample database at version 27 (`backstop-loadgen devchain`), with a backstop.toml
    /// naming it and the example's migrations. Returns the database's path.
    @discardableResult
    public func makeDevchain(name: String = "devchain.db") throws -> String {
        let result = try run(BackstopTestCase.loadgenPath, ["devchain", path(name)])
        XCTAssertEqual(result.status, 0, result.stderr)
        try "db = \"\(name)\"\nmigrations = \"\(BackstopTestCase.devchainExample)/migrations\"\n"
            .write(toFile: path("backstop.toml"), atomically: true, encoding: .utf8)
        return path(name)
    }
}
