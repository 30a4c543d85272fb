import ArgumentParser
import BackstopKit
import Foundation

/// `--json` and `--quiet`.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print JSON for scripts (one document; with --all, one line per database).")
    var json = false

    @Flag(name: [.short, .long], help: "Print nothing but errors and warnings (for cron).")
    var quiet = false

    var output: Output { Output(json: json, quiet: quiet) }
}

/// `--lock-wait`.
struct LockOptions: ParsableArguments {
    static let maximum: Double = 86_400

    @Option(help: ArgumentHelp("Seconds to wait for a store or database locked by another run or connection before giving up with exit status 5.", valueName: "seconds"))
    var lockWait: Double = 30

    func validate() throws {
        guard lockWait.isFinite else { throw ValidationError("'--lock-wait' must be a number of seconds") }
        guard lockWait >= 0 else { throw ValidationError("'--lock-wait' must not be negative") }
        guard lockWait <= LockOptions.maximum else { throw ValidationError("'--lock-wait' must be at most \(Int(LockOptions.maximum)) seconds (a day)") }
    }
}

/// `--all`: every database in the configuration.
struct AllOptions: ParsableArguments {
    @Flag(help: "Run over every database in the configuration file, each with its own lock; every one is attempted, and the exit status is the worst.")
    var all = false
}

extension MigrationLayout: ExpressibleByArgument {}

/// `--dir` and `--format`: the migrations folder and its layout.
struct MigrationsOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The migrations folder. Default: migrations in backstop.toml, then ./migrations.", valueName: "dir"))
    var dir: String?

    @Option(help: ArgumentHelp("The folder's layout: backstop, drizzle, diesel, golang-migrate, dbmate, goose, flyway or sqlx. Default: detected from the folder.",
                               valueName: "layout"))
    var format: MigrationLayout?
}

/// `--ignore-guard`.
struct GuardOptions: ParsableArguments {
    @Flag(help: "Run even when a guard.sql query returns rows (for example sessions still running).")
    var ignoreGuard = false
}

/// `--level` for a snapshot Backstop takes.
enum LevelValidation {
    static func check(_ level: Int) throws {
        guard (1...12).contains(level) else { throw ValidationError("'--level' must be between 1 and 12") }
    }
}

/// `--yes`.
struct ConfirmOptions: ParsableArguments {
    @Flag(name: [.short, .long], help: "Do not ask for confirmation (required when standard input is not a terminal).")
    var yes = false

    /// Shows `description` (also with --yes, so the warning is always seen), then asks, or requires --yes
    /// when nobody can be asked. Throws `refused` otherwise.
    func confirm(_ description: Line, question: String, action: String, output: Output) throws {
        if yes {
            if !description.text.isEmpty { output.note(description) }
            return
        }
        guard Output.stdinIsTerminal else {
            throw BackstopError.refused("\(action) needs confirmation; nothing was changed", remedy: .confirm)
        }
        if !description.text.isEmpty { FileHandle.standardError.write(Data((description.text + "\n").utf8)) }
        guard Output.confirm(question) else { throw BackstopError.refused("cancelled; nothing was changed", remedy: nil) }
    }
}
