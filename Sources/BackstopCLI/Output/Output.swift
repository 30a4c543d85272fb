import BackstopKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where and how a command writes: tables or JSON on stdout, notes and progress on stderr.
/// Progress and colours only on a terminal and without NO_COLOR; nothing but errors with --quiet.
struct Output {
    var json: Bool
    var quiet: Bool

    static var stdinIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }
    static var stderrIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
    static var noColor: Bool { ProcessInfo.processInfo.environment["NO_COLOR"].map { !$0.isEmpty } ?? false }

    /// A line of human output (suppressed by --quiet and --json).
    func say(_ text: String) {
        guard !quiet, !json else { return }
        print(text)
        fflush(nil)
    }

    /// A note on stderr (suppressed by --quiet).
    func note(_ text: String) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// A warning on stderr, shown even with --quiet.
    func warn(_ text: String) {
        FileHandle.standardError.write(Data(("warning: " + text + "\n").utf8))
    }

    func emitJSON(_ object: Any) {
        print(JSON.string(object))
        fflush(nil)
    }

    /// A progress reporter for long work, or nil where progress must not be shown.
    func progress(_ title: String) -> ProgressBar? {
        guard !quiet, Output.stderrIsTerminal, !Output.noColor else { return nil }
        return ProgressBar(title: title)
    }

    /// Asks a yes/no question on the terminal. Returns false on anything but y/yes.
    static func confirm(_ question: String) -> Bool {
        FileHandle.standardError.write(Data((question + " [y/N] ").utf8))
        guard let answer = readLine() else { return false }
        return ["y", "yes"].contains(answer.trimmingCharacters(in: .whitespaces).lowercased())
    }
}

enum JSON {
    static func string(_ object: Any) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]) else {
            return "{}"
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// A Codable value as a JSON object (dictionaries and arrays) for embedding in larger outputs.
    static func object<T: Encodable>(_ value: T) -> Any {
        let encoder = JSONEncoder()
        guard let data = try? encoder.encode(value), let object = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            return NSNull()
        }
        return object
    }
}

/// A one-line progress bar on stderr, redrawn at most ten times a second.
final class ProgressBar {
    let title: String
    private var lastDraw = Date.distantPast
    private var lastPhase = ""
    private var drawn = false

    init(title: String) { self.title = title }

    func update(_ phase: Phase, _ done: Int64, _ total: Int64) {
        let now = Date()
        guard phase.rawValue != lastPhase || now.timeIntervalSince(lastDraw) >= 0.1 || done == total else { return }
        lastDraw = now
        lastPhase = phase.rawValue
        let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 0
        let width = 24
        let filled = Int(fraction * Double(width))
        let bar = String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled)
        let amounts: String
        switch phase {
        case .copying: amounts = "\(done) / \(total) pages"
        case .savingCurrentState, .checkingImage: amounts = ""
        default: amounts = "\(ByteCount.format(done)) / \(ByteCount.format(total))"
        }
        let line = "\r\(title): \(phase.rawValue) [\(bar)] \(Int(fraction * 100))% \(amounts)"
        FileHandle.standardError.write(Data((line + "\u{1B}[K").utf8))
        drawn = true
    }

    var handler: PhaseProgress { { [self] in update($0, $1, $2) } }

    func finish() {
        if drawn { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        drawn = false
    }
}

/// Plain text tables with aligned columns.
struct TextTable {
    var headers: [String]
    var rows: [[String]] = []

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows { for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) } }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                i == cells.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}
