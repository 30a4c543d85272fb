import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct PinCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "pin",
            abstract: "Pin a snapshot so that no prune removes it.",
            discussion: ExitStatus.helpTable)

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

        func setPinned(_ pinned: Bool, note: String?, _ session: Session) throws {
            let output = session.output
            let resolved = try target.resolve(session, requireDatabase: false)
            let manifest = try Pinning.setPinned(pinned, id: id, note: note, store: try session.openStore(resolved, create: false),
                                                 lockWait: lock.lockWait, notify: output.notifier)
            if output.json { output.emit(PinJSON(schema: JSONOutput.schema(pinned ? "pin" : "unpin"), snapshot: SnapshotJSON(manifest))); return }
            output.say("\(raw: pinned ? "pinned" : "unpinned") \(manifest.id)" + (manifest.pinNote.map { Line(" (\($0))") } ?? ""))
        }
    }
}
