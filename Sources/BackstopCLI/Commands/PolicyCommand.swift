import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct PolicyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy",
            abstract: "Check, explain and simulate retention policies without touching any store.",
            subcommands: [Check.self, Explain.self, Simulate.self])

        struct Check: BackstopCommand {
            static let configuration = CommandConfiguration(
                abstract: "Validate a policy and print it back in words.",
                discussion: ExitStatus.helpTable)

            @OptionGroup var outputOptions: OutputOptions

            @Argument(help: "The policy file.")
            var file: String

            func run(_ session: Session) throws {
                let policy = try RetentionPolicy.load(path: file)
                let output = session.output
                if output.json { output.emit(PolicyCheckJSON(file: policy.file, ok: true, words: PolicyWords.policy(policy))); return }
                output.say("\(policy.file) is valid.\n")
                output.say("\(lines: PolicyWords.policy(policy))")
            }
        }

        struct Explain: BackstopCommand {
            static let configuration = CommandConfiguration(
                abstract: "Apply a policy to a list of snapshot times and show what it keeps and removes, and why.",
                discussion: reflow("""
                Each input line is 'RFC3339-time [kind] [pinned] [size=SIZE]', e.g.
                '2026-11-20T03:00:00Z pre-migration'; kind defaults to manual. The same function as prune,
                evaluated at the current time (or --now).

                \(ExitStatus.helpTable)
                """))

            @OptionGroup var outputOptions: OutputOptions

            @Argument(help: "The policy file.")
            var file: String

            @Option(help: ArgumentHelp("The list of snapshots ('-' for standard input).", valueName: "file"))
            var input: String

            @Option(help: ArgumentHelp("Evaluate at this time instead of now: the same times as restore --at (RFC 3339, '2026-11-22 10:00', 2h ago). Default: now.", valueName: "time"))
            var now: String?

            func run(_ session: Session) throws {
                let output = session.output
                let policy = try RetentionPolicy.load(path: file)
                let text: String
                if input == "-" {
                    text = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
                } else {
                    guard let data = try? FileSystem.readSmallFile(input, limit: 256 << 20) else {
                        throw BackstopError.invalidInput("cannot read \(input)")
                    }
                    text = String(decoding: data, as: UTF8.self)
                }
                let entries = try ExplainInput.parse(text, file: input)
                let evaluationTime = try now.map { try Timestamp.parsePointInTime($0) } ?? Date()
                let result = Retention.apply(policy, to: entries.map(\.item), now: evaluationTime)
                let lines = Dictionary(uniqueKeysWithValues: entries.map { ($0.item.id, $0.line) })
                if output.json {
                    func item(_ verdict: RetentionVerdict) -> ExplainJSON.Item {
                        .init(line: lines[verdict.item.id]!, time: Timestamp.rfc3339(verdict.item.time), kind: verdict.item.kind.rawValue,
                              pinned: verdict.item.pinned, reasons: verdict.reasons)
                    }
                    output.emit(ExplainJSON(keep: result.keep.map(item), remove: result.remove.map(item), warnings: result.warnings))
                    return
                }
                output.say(PolicyCommand.explainText(result, lines: lines))
                for warning in result.warnings { output.warn("\(warning)") }
            }
        }

        struct Simulate: BackstopCommand {
            static let configuration = CommandConfiguration(
                abstract: "Show how many snapshots a policy keeps in steady state for a schedule, and the space they take.",
                discussion: reflow("""
                Simulates a snapshot every --every for --for, pruned once a day as a nightly cron job does.

                \(ExitStatus.helpTable)
                """))

            @OptionGroup var outputOptions: OutputOptions

            @Argument(help: "The policy file.")
            var file: String

            @Option(help: ArgumentHelp("How often a snapshot is taken, e.g. 1h.", valueName: "duration"))
            var every: String

            @Option(name: .customLong("for"), help: ArgumentHelp("How long to simulate, e.g. 400d.", valueName: "duration"))
            var span: String

            @Option(help: ArgumentHelp("The size of one snapshot in the store.", valueName: "size"))
            var size: String = "1GB"

            @Option(help: ArgumentHelp("The kind of the simulated snapshots.", valueName: "kind"))
            var kind: String = "manual"

            func validate() throws {
                guard SnapshotKind(rawValue: kind).isWellFormed else { throw ValidationError("'--kind' takes a snapshot kind such as manual or pre-migration") }
            }

            func run(_ session: Session) throws {
                let output = session.output
                let policy = try RetentionPolicy.load(path: file)
                let interval = try DurationText.parse(every)
                let duration = try DurationText.parse(span)
                guard interval >= 60 else { throw ValidationError("'--every' must be at least 1m") }
                guard duration >= interval else { throw ValidationError("'--for' must be at least as long as '--every'") }
                guard duration / interval <= 2_000_000 else { throw ValidationError("'--for' / '--every' is too many snapshots to simulate (at most 2,000,000)") }
                let bytes = try ByteCount.parse(size)
                let result = PolicySimulation.run(policy, every: interval, for: duration, size: bytes, kind: SnapshotKind(rawValue: kind))
                if output.json {
                    output.emit(SimulateJSON(taken: result.taken, kept: result.kept, peak: result.peak, bytes: result.bytes,
                                             peakBytes: result.peakBytes,
                                             byRule: Dictionary(uniqueKeysWithValues: result.byRule.map { ($0.rule, $0.count) })))
                    return
                }
                output.say("A \(kind) snapshot every \(every) for \(span) (\(raw: String(result.taken)) taken), pruned nightly with \(policy.file):")
                output.say("  kept in steady state: \(raw: String(result.kept)) snapshots, \(raw: ByteCount.format(result.bytes)) at \(size) each")
                output.say("  most held at once (just before a prune): \(raw: String(result.peak)), \(raw: ByteCount.format(result.peakBytes))")
                output.say("  kept by rule (a snapshot may count for several):")
                for (rule, count) in result.byRule { output.say("    \(rule.padding(toLength: 8, withPad: " ", startingAt: 0)) \(raw: String(count))") }
            }
        }

        static func explainText(_ result: RetentionResult, lines: [String: Int]) -> Line {
            var table = TextTable(headers: ["", "LINE", "TIME", "KIND", "REASONS"])
            let all = result.keep.map { ("keep", $0) } + result.remove.map { ("remove", $0) }
            for (action, verdict) in all.sorted(by: { (lines[$0.1.item.id]!) < (lines[$1.1.item.id]!) }) {
                table.append([action, String(lines[verdict.item.id]!), Timestamp.rfc3339(verdict.item.time),
                              verdict.item.kind.rawValue + (verdict.item.pinned ? " (pinned)" : ""), verdict.reasons.joined(separator: ", ")])
            }
            return table.render() + Line(raw: "\n\nkeep \(result.keep.count), remove \(result.remove.count)")
        }
    }
}
