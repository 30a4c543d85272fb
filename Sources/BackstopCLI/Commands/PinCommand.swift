import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct PinCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "pin",
            abstract: "Pin a snapshot so that no prune removes it, here or on its replicas.",
            discussion: reflow("""
            The pin (and its note) is also set on every replica of the database that holds the snapshot, so
            that the replica's prune keeps it too (--no-replicas: here only). A snapshot pushed later carries
            its pin with it.

            \(ExitStatus.helpTable)
            """))

        @OptionGroup var pin: PinArguments
        var outputOptions: OutputOptions { pin.outputOptions }

        @Option(help: ArgumentHelp("Why it is pinned (a ticket number ...). Default: none.", valueName: "text"))
        var note: String?

        func validate() throws {
            if let note, note.utf8.count > 1000 { throw ValidationError("'--note' must be at most 1000 bytes") }
        }

        func run(_ session: Session) throws { try pin.setPinned(true, note: note, session) }
    }

    /// What `pin` and `unpin` share: which snapshot, and setting its pin.
    struct PinArguments: ParsableArguments {
        @OptionGroup var target: TargetOptions
        @OptionGroup var outputOptions: OutputOptions
        @OptionGroup var lock: LockOptions

        @Argument(help: "The snapshot id (or a unique prefix of at least 8 characters).")
        var id: String

        @Flag(help: "Set it in the local store only, not on the replicas.")
        var noReplicas = false

        func setPinned(_ pinned: Bool, note: String?, _ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: false)
            let manifest = try Pinning.setPinned(pinned, id: id, note: note, store: try session.openStore(resolved, create: false),
                                                 lockWait: lock.lockWait, notify: output.notifier)
            let verb = pinned ? "pinned" : "unpinned"
            if !output.json {
                output.say("\(raw: verb) \(manifest.id)" + (manifest.pinNote.map { Line(" (\($0))") } ?? ""))
            }
            // The replicas: the pin is set here already, whatever happens there.
            var replicas: [PinJSON.Replica] = []
            var worst = ExitStatus.success
            for settings in noReplicas ? [] : resolved.replicas {
                var entry = PinJSON.Replica(name: settings.name, location: settings.url, ok: true, holds: false, error: nil)
                do {
                    let remote = try session.openReplica(settings, resolved)
                    entry.location = remote.location
                    entry.holds = try remote.copyPin(from: manifest) != nil
                    if !output.json {
                        output.note(entry.holds ? "\(raw: verb) on \(settings.name) (\(remote.location)) too"
                                    : "\(settings.name) (\(remote.location)) does not hold \(manifest.id); a push sends it \(raw: verb)")
                    }
                } catch {
                    if !output.json { output.note("\(manifest.id) is \(raw: verb) here, but not on \(settings.name): run the command again when it can be reached") }
                    let status = session.report(error, json: false)
                    worst = ExitStatus.worst([worst, status])
                    entry.ok = false
                    entry.error = Words.error(error, session.context).0
                }
                replicas.append(entry)
            }
            if output.json {
                output.emit(PinJSON(schema: JSONOutput.schema(pinned ? "pin" : "unpin"), snapshot: SnapshotJSON(manifest), replicas: replicas))
            }
            if worst != .success { throw ExitCode(worst.rawValue) }
        }
    }
}
