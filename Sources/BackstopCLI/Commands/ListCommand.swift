import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct ListCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "List every complete snapshot in the store, oldest first.",
            discussion: """
            Shows each snapshot's id, time (UTC and local), kind, label, original and compressed size, schema
            version, pin and source database. Files that are not complete snapshots are never listed.

            \(ExitStatus.helpTable)
            """)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: false)
            guard FileSystem.isDirectory(resolved.store) else {
                if output.json { output.emitJSON([Any]()) } else { output.say("No snapshots: there is no store at \(resolved.store) yet.") }
                return
            }
            let store = try target.openStore(resolved, create: false)
            let (snapshots, problems) = try store.scan()
            if output.json {
                output.emitJSON(snapshots.map { JSON.object($0) })
                return
            }
            let databases = Set(snapshots.map(\.database))
            if snapshots.isEmpty {
                output.say("No snapshots in \(store.path).")
            } else {
                if databases.count == 1 { output.say("Snapshots of \(databases.first!) in \(store.path):\n") }
                var table = TextTable(headers: ["ID", "CREATED (UTC)", "LOCAL", "KIND", "SIZE", "STORED", "SCHEMA", "PINNED", "LABEL"]
                                      + (databases.count > 1 ? ["DATABASE"] : []))
                for manifest in snapshots {
                    let date = manifest.createdDate
                    var row = [
                        manifest.id, String(Timestamp.rfc3339(date).prefix(19)).replacingOccurrences(of: "T", with: " "),
                        Timestamp.local(date), manifest.kind, ByteCount.format(manifest.dbBytes),
                        ByteCount.format(manifest.compressedBytes), manifest.schemaVersion.map(String.init) ?? "-",
                        manifest.pinned ? "yes" + (manifest.pinNote.map { " (\($0))" } ?? "") : "",
                        manifest.label ?? "",
                    ]
                    if databases.count > 1 { row.append(manifest.database) }
                    table.rows.append(row)
                }
                output.say(table.render())
            }
            for problem in problems {
                output.note("not listed: \(problem.file): \(problem.reason)")
            }
        }
    }

    struct ShowCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Show one snapshot's manifest.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions

        @Argument(help: ArgumentHelp("The snapshot id (or a unique prefix of at least 8 characters).", valueName: "id"))
        var id: String

        func run() throws {
            let output = outputOptions.output
            let resolved = try target.resolve(requireDatabase: false)
            let store = try target.openStore(resolved, create: false)
            let manifest = try store.snapshot(id: id)
            if output.json { output.emitJSON(JSON.object(manifest)); return }
            guard let object = JSON.object(manifest) as? [String: Any] else { return }
            let width = object.keys.map(\.count).max() ?? 0
            for key in object.keys.sorted() {
                let value = object[key]
                let text: String
                switch value {
                case is NSNull, nil: text = "-"
                case let list as [Any]: text = list.map { "\($0)" }.joined(separator: ", ")
                default: text = "\(value!)"
                }
                output.say(key.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + text)
            }
            output.say("data file".padding(toLength: width, withPad: " ", startingAt: 0) + "  " + store.dataPath(manifest))
        }
    }
}
