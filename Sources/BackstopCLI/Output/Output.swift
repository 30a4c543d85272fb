import BackstopKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where and how a command writes: text or JSON on stdout, notes, warnings and progress on stderr.
/// `--quiet` keeps everything but errors and warnings; `--json` replaces text on stdout with one JSON
/// document (one per line with `--all`).
struct Output: Sendable {
    var json: Bool
    var quiet: Bool
    /// With `--all`: JSON documents are written one per line, each a database's.
    var jsonLines = false

    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
    static var noColor: Bool { ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false }
    /// A terminal that understands no escape codes (`TERM=dumb`).
    static var dumbTerminal: Bool { ProcessInfo.processInfo.environment["TERM"] == "dumb" }

    /// A line of human output on stdout (suppressed by --quiet and --json).
    func say(_ line: Line) {
        guard !quiet, !json else { return }
        print(line.text)
        fflush(nil)
    }

    /// A note on stderr (suppressed by --quiet).
    func note(_ line: Line) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((line.text + "\n").utf8))
    }

    /// A warning on stderr, shown even with --quiet.
    func warn(_ line: Line) {
        FileHandle.standardError.write(Data(("warning: " + line.text + "\n").utf8))
    }

    /// A JSON document on stdout.
    func emit<T: Encodable>(_ value: T) {
        print(JSONOutput.string(value, pretty: !jsonLines))
        fflush(nil)
    }

    /// Receives the domain's notices: warnings always, the rest unless --quiet.
    var notifier: Notifier {
        let output = self
        return { notice in
            let (line, isWarning) = Words.notice(notice)
            if isWarning { output.warn(line) } else { output.note(line) }
        }
    }

    /// A progress display for long work, or nil where progress must not be shown (--quiet, not a terminal,
    /// NO_COLOR, --json).
    func progress(_ title: String) -> ProgressBar? {
        guard !quiet, !json, Output.stderrIsTerminal, !Output.noColor else { return nil }
        return ProgressBar(title: title, dumb: Output.dumbTerminal)
    }

    /// Asks a yes/no question on the terminal. Returns false on anything but y/yes.
    static func confirm(_ question: String) -> Bool {
        FileHandle.standardError.write(Data((question + " [y/N] ").utf8))
        guard let answer = readLine() else { return false }
        return ["y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased())
    }
}

/// A one-line progress display on stderr that fits the terminal's width, names the phase it is in, and is
/// redrawn at most ten times a second. On a `TERM=dumb` terminal it uses no escape codes: one line per phase.
final class ProgressBar {
    let title: String
    let dumb: Bool
    private var lastDraw = Date.distantPast
    private var lastPhase: Phase?
    private var drawn = false

    init(title: String, dumb: Bool) {
        self.title = title
        self.dumb = dumb
    }

    static var width: Int {
        var size = winsize()
        if ioctl(STDERR_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return Int(ProcessInfo.processInfo.environment["COLUMNS"] ?? "") ?? 80
    }

    func update(_ phase: Phase, _ done: Int64, _ total: Int64) {
        if dumb {
            if phase != lastPhase { FileHandle.standardError.write(Data("\(title): \(phase.rawValue)...\n".utf8)) }
            lastPhase = phase
            return
        }
        let now = Date()
        guard phase != lastPhase || now.timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
        lastDraw = now
        lastPhase = phase
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let amounts: String
        switch phase {
        case .copying, .restoring: amounts = " \(done)/\(total) pages"
        case .savingCurrentState, .checkingImage: amounts = ""
        default: amounts = " \(ByteCount.format(done))/\(ByteCount.format(total))"
        }
        let percent = phase == .checkingImage || phase == .savingCurrentState && done == 0 ? "" : " \(Int(fraction * 100))%"
        let text = "\(title): \(phase.rawValue)"
        // Whatever the width, the line never wraps: the bar shrinks, then the amounts go, then the text is cut.
        let available = ProgressBar.width - 1
        var line = text + percent + amounts
        let barWidth = available - line.count - 3
        if barWidth >= 10 {
            let filled = Int(fraction * Double(barWidth))
            line = text + " [" + String(repeating: "#", count: filled) + String(repeating: "-", count: barWidth - filled) + "]" + percent + amounts
        } else if line.count > available {
            line = text + percent
            if line.count > available { line = String(line.prefix(max(0, available))) }
        }
        FileHandle.standardError.write(Data(("\r" + line + "\u{1B}[K").utf8))
        drawn = true
    }

    var handler: PhaseProgress { { [self] in update($0, $1, $2) } }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}
