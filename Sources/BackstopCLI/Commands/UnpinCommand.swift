import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct UnpinCommand: BackstopCommand {
        static let configuration = CommandConfiguration(
            commandName: "unpin",
            abstract: "Remove a snapshot's pin; retention judges it again.",
            discussion: ExitStatus.helpTable)

        @OptionGroup var pin: PinArguments
        var outputOptions: OutputOptions { pin.outputOptions }

        func run(_ session: Session) throws { try pin.setPinned(false, note: nil, session) }
    }
}
