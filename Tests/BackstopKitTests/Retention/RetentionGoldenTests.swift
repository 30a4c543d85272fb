import BackstopKit
import Foundation
import XCTest

/// Golden tests of the pure retention function: each folder in testdata/ holds a policy, an input
/// list (first line `# now: TIME`) and the expected verdicts. Regenerate with BACKSTOP_UPDATE_GOLDEN=1,
/// then read the diff: a golden file is a claim about behaviour.
final class RetentionGoldenTests: XCTestCase {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("testdata").path

    func render(_ scenario: String) throws -> String {
        let directory = (RetentionGoldenTests.folder as NSString).appendingPathComponent(scenario)
        let policy = try RetentionPolicy.load(path: directory + "/policy.toml")
        let input = try String(contentsOfFile: directory + "/input.txt", encoding: .utf8)
        guard let header = input.split(separator: "\n").first, header.hasPrefix("# now: "),
              let now = Timestamp.parseRFC3339(String(header.dropFirst(7))) else {
            throw BackstopError.invalidInput("\(scenario)/input.txt must start with '# now: TIME'")
        }
        let entries = try ExplainInput.parse(input, file: "input.txt")
        let result = Retention.apply(policy, to: entries.map(\.item), now: now)
        let lines = Dictionary(uniqueKeysWithValues: entries.map { ($0.item.id, $0.line) })
        var text = ""
        let all = result.keep.map { ("keep  ", $0) } + result.remove.map { ("remove", $0) }
        for (action, verdict) in all.sorted(by: { lines[$0.1.item.id]! < lines[$1.1.item.id]! }) {
            text += "\(action) line \(lines[verdict.item.id]!)  \(Timestamp.rfc3339(verdict.item.time))  \(verdict.item.kind)\(verdict.item.pinned ? " pinned" : "")  \(verdict.reasons.joined(separator: ", "))\n"
        }
        for warning in result.warnings { text += "warning: \(warning)\n" }
        return text + "keep \(result.keep.count), remove \(result.remove.count)\n"
    }

    func testGoldenScenarios() throws {
        let scenarios = try FileManager.default.contentsOfDirectory(atPath: RetentionGoldenTests.folder).sorted()
        XCTAssertGreaterThanOrEqual(scenarios.count, 12)
        let update = ProcessInfo.processInfo.environment["BACKSTOP_UPDATE_GOLDEN"] != nil
        for scenario in scenarios {
            let actual = try render(scenario)
            let expectedPath = (RetentionGoldenTests.folder as NSString).appendingPathComponent(scenario + "/expected.txt")
            if update { try actual.write(toFile: expectedPath, atomically: true, encoding: .utf8); continue }
            let expected = (try? String(contentsOfFile: expectedPath, encoding: .utf8)) ?? "(missing expected.txt)"
            XCTAssertEqual(actual, expected, "scenario \(scenario)")
        }
    }
}
