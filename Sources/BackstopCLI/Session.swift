import ArgumentParser
import BackstopKit
import Foundation

/// One run of a command: where it writes, and what it works on (so that errors can suggest next steps
/// that reach the same database and store).
final class Session {
    let output: Output
    private(set) var context = Context()

    init(output: Output) { self.output = output }

    func use(_ target: Target) {
        context = Context(database: target.database.isEmpty ? nil : target.database,
                          store: target.store.isEmpty ? nil : target.store, migrations: target.migrations,
                          ignoreGuard: context.ignoreGuard, confirmed: context.confirmed)
    }

    func ignoringGuard(_ ignore: Bool) { context.ignoreGuard = ignore }
    func confirming(_ yes: Bool) { context.confirmed = yes }

    /// Prints an error the way users should see it (and as JSON on stdout with --json, unless the command
    /// already printed its own document); returns its status.
    @discardableResult
    func report(_ error: Error, database: String? = nil, json: Bool = true) -> ExitStatus {
        let (message, hint, status) = Words.error(error, context)
        var text = "error: " + TerminalText.escapeKeepingLines(message) + "\n"
        if let hint { text += "hint: " + TerminalText.escapeKeepingLines(hint) + "\n" }
        FileHandle.standardError.write(Data(text.utf8))
        if output.json && json {
            output.emit(ErrorJSON(error: message, exitStatus: status.rawValue, hint: hint, database: database))
        }
        return status
    }

    /// For a command that printed its own JSON document: the error in words on stderr, and its status.
    func fail(_ error: Error) -> ExitCode {
        ExitCode(report(error, json: false).rawValue)
    }
}

/// A subcommand that runs within a ``Session``.
protocol BackstopCommand: ParsableCommand {
    var outputOptions: OutputOptions { get }
    func run(_ session: Session) throws
}

/// A command that asks for confirmation (or takes --yes).
protocol Confirming {
    var confirmation: ConfirmOptions { get }
}

extension BackstopCommand {
    /// A session for running this command.
    func makeSession() -> Session {
        let session = Session(output: outputOptions.output)
        if let confirming = self as? Confirming { session.confirming(confirming.confirmation.yes) }
        return session
    }

    func run() throws { try run(makeSession()) }
}

/// Runs `body` for each target of --all: every database is attempted, failures are reported as they
/// come, and the exit status is the worst one.
func forEachDatabase(_ targets: [Target], _ session: Session, _ body: (Target, Session) throws -> Void) throws {
    var statuses: [ExitStatus] = []
    var output = session.output
    output.jsonLines = true
    for target in targets {
        let one = Session(output: output)
        one.use(target)
        do {
            try body(target, one)
            statuses.append(.success)
        } catch let code as ExitCode {
            statuses.append(ExitStatus(rawValue: code.rawValue) ?? .failure)
        } catch {
            statuses.append(one.report(error, database: target.database))
        }
    }
    let worst = ExitStatus.worst(statuses)
    if worst != .success { throw ExitCode(worst.rawValue) }
}
