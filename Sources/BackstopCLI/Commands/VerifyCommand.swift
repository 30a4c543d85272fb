import ArgumentParser
import BackstopKit

extension Backstop {
    struct VerifyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check snapshots against their checksums.",
            discussion: """
            With no id, checks every snapshot in the store. Checks each stored file against its size and
            SHA-256; with --deep also decompresses it, checks the image's SHA-256, and runs PRAGMA
            integrity_check on it. Exits with status 4 if any snapshot fails, giving the reason for each.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: ArgumentHelp("Snapshot ids. Default: every snapshot in the store.", valueName: "id"))
        var ids: [String] = []

        @Flag(help: "Also decompress each snapshot, check the image's checksum and run PRAGMA integrity_check.")
        var deep = false

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: false)
            if ids.isEmpty && !FileSystem.isDirectory(resolved.store) {
                if output.json { output.emitJSON(["deep": deep, "ok": true, "snapshots": [Any](), "unreadable": [Any]()] as [String: Any]) }
                else { output.say("No snapshots to verify: there is no store at \(resolved.store) yet.") }
                return
            }
            let store = try target.openStore(resolved, create: false)
            let scan = try store.scan()
            let manifests = try ids.isEmpty ? scan.snapshots : ids.map { try store.snapshot(id: $0) }
            var results: [VerificationResult] = []
            for manifest in manifests {
                let bar = output.progress("verify \(manifest.id)")
                let result = Verifier.verify(manifest, in: store, deep: deep, progress: bar?.handler)
                bar?.finish()
                results.append(result)
                if !output.json {
                    if result.ok { output.say("ok      \(manifest.id)  \(deep ? "deep" : "checksum")") }
                    else { print("FAILED  \(manifest.id)  \(result.problems.joined(separator: "; "))") }
                }
            }
            // Manifests that cannot be read are damage too (a complete manifest is written atomically).
            let unreadable = ids.isEmpty ? scan.problems.filter { $0.file.hasSuffix(".json") } : []
            if output.json {
                output.emitJSON([
                    "deep": deep,
                    "ok": results.allSatisfy(\.ok) && unreadable.isEmpty,
                    "snapshots": results.map { ["id": $0.manifest.id, "ok": $0.ok, "problems": $0.problems] as [String: Any] },
                    "unreadable": unreadable.map { ["file": $0.file, "reason": $0.reason] },
                ] as [String: Any])
            } else {
                for problem in unreadable { print("FAILED  \(problem.file)  \(problem.reason)") }
                if manifests.isEmpty && unreadable.isEmpty { output.say("No snapshots to verify in \(store.path).") }
            }
            let failed = results.filter { !$0.ok }.count + unreadable.count
            if failed > 0 {
                if !output.json { output.note("\(failed) of \(results.count + unreadable.count) failed verification") }
                throw ExitCode(ExitStatus.verificationFailed.rawValue)
            }
        }
    }
}
