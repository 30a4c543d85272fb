import BackstopKit
import BackstopTestSupport
import Foundation
import XCTest

/// The README's crontab, run as cron runs it: a bare environment, the home folder as working directory,
/// and every byte printed mailed to the operator. All is well: nothing is printed. Something is wrong:
/// the job says what, and exits non-zero.
final class CrontabTests: BackstopTestCase {
    /// The commands of the README's ```cron block, without their schedules.
    func crontabCommands() throws -> [String] {
        let readme = try String(contentsOfFile: BackstopTestCase.packageRoot + "/README.md", encoding: .utf8)
        let block = try XCTUnwrap(readme.components(separatedBy: "```cron\n").dropFirst().first?.components(separatedBy: "```").first,
                                  "the README has no ```cron block")
        return block.split(separator: "\n").filter { !$0.hasPrefix("#") && !$0.trimmingCharacters(in: .whitespaces).isEmpty }.map { line in
            line.split(separator: " ", omittingEmptySubsequences: true).dropFirst(5).joined(separator: " ")
        }
    }

    /// Runs a crontab command line as cron would, with `backstop` found on cron's PATH.
    func cron(_ command: String) throws -> RunResult {
        let bin = path("bin")
        if !FileSystem.exists(bin + "/backstop") {
            mkdir(bin, 0o755)
            XCTAssertEqual(symlink(BackstopTestCase.backstopPath, bin + "/backstop"), 0)
        }
        let line = command.replacingOccurrences(of: "/srv/app/backstop.toml", with: path("srv/backstop.toml"))
        return try run("/usr/bin/env", ["-i", "PATH=\(bin):/usr/bin:/bin", "HOME=\(path("home"))", "SHELL=/bin/sh", "LOGNAME=backstop",
                                        "/bin/sh", "-c", "cd \"$HOME\" && " + line])
    }

    func testTheREADMECrontabIsSilentWhenAllIsWellAndSpeaksWhenNot() throws {
        let commands = try crontabCommands()
        XCTAssertEqual(commands.count, 3, "\(commands)")
        XCTAssertTrue(commands.allSatisfy { $0.hasPrefix("backstop ") && $0.contains("/srv/app/backstop.toml") }, "\(commands)")
        mkdir(path("home"), 0o700)
        mkdir(path("srv"), 0o755)
        mkdir(path("srv/backups"), 0o700)
        try makeDatabase("srv/app.db", rows: 200)
        try makeDatabase("srv/accounts.db", rows: 50)
        try """
            policy = "keep.toml"
            [databases.app]
            db = "app.db"
            [databases.accounts]
            db = "accounts.db"
            store = "backups/accounts"
            """.write(toFile: path("srv/backstop.toml"), atomically: true, encoding: .utf8)
        try "keep_last = 2\n".write(toFile: path("srv/keep.toml"), atomically: true, encoding: .utf8)
        let hourly = commands[0], nightly = commands[1], weekly = commands[2]

        // Three hours: the database changes between the first and the third.
        for hour in 0..<3 {
            if hour == 2 { try execute(path("srv/app.db"), "INSERT INTO items(name) VALUES ('hour 2')") }
            let result = try cron(hourly)
            XCTAssertEqual(result.status, 0, "hour \(hour): \(result.stderr)")
            XCTAssertEqual(result.stdout + result.stderr, "", "hour \(hour): cron would mail this")
        }
        XCTAssertEqual(try listed(["--db", path("srv/app.db")]).count, 2, "unchanged hours store nothing")
        XCTAssertEqual(try listed(["--db", path("srv/accounts.db"), "--store", path("srv/backups/accounts")]).count, 1)
        for job in [nightly, weekly] {
            let result = try cron(job)
            XCTAssertEqual(result.status, 0, "\(job): \(result.stderr)")
            XCTAssertEqual(result.stdout + result.stderr, "", "\(job): cron would mail this")
        }

        // A damaged snapshot: the weekly job says which, and fails.
        let damaged = try XCTUnwrap(listed(["--db", path("srv/app.db")]).last?["file"] as? String)
        let handle = try XCTUnwrap(FileHandle(forWritingAtPath: path("srv/app.db.backstop/" + damaged)))
        try handle.seek(toOffset: 60)
        handle.write(Data(repeating: 0xAA, count: 32))
        try handle.close()
        let result = try cron(weekly)
        XCTAssertEqual(result.status, 4, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("FAILED  \(damaged.replacingOccurrences(of: ".sqlite.gz", with: ""))"), result.stdout)
        // A database that vanished: the hourly job says so, and fails.
        try FileManager.default.removeItem(atPath: path("srv/accounts.db"))
        let missing = try cron(hourly)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains(path("srv/accounts.db")), missing.stderr)
    }
}
