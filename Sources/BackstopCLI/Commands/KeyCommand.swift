import ArgumentParser
import BackstopKit
import Foundation

extension Backstop {
    struct KeyCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key",
            abstract: "Create age keys for encrypted snapshots.",
            subcommands: [Generate.self, Public.self])

        struct Generate: BackstopCommand {
            static let configuration = CommandConfiguration(
                abstract: "Write a new age identity file (mode 0600) and print its public key.",
                discussion: reflow("""
                The file is what age-keygen writes, so 'age -d -i FILE' reads the snapshots encrypted to it.
                Put the public key in backstop.toml (recipients = ["age1..."]) and keep the file safe, away
                from the store: without it, the snapshots encrypted to it cannot be read by anyone. An
                existing file is never replaced.

                \(ExitStatus.helpTable)
                """))

            @OptionGroup var outputOptions: OutputOptions

            @Argument(help: ArgumentHelp("Where to write the identity (a new file).", valueName: "file"))
            var file: String

            func run(_ session: Session) throws {
                let output = session.output
                let recipient = try KeyFile.generate(at: file)
                let path = FileSystem.absolute(file)
                if output.json { output.emit(KeyJSON(schema: JSONOutput.schema("key-generate"), file: path, publicKeys: [recipient.description])); return }
                print(recipient.description)
                output.note("wrote the secret key to \(path) (mode 0600); keep it safe and apart from the store: without it, snapshots encrypted to \(raw: recipient.description) cannot be read")
                output.note("to encrypt a store's snapshots, add to backstop.toml: recipients = [\"\(raw: recipient.description)\"]")
            }
        }

        struct Public: BackstopCommand {
            static let configuration = CommandConfiguration(
                abstract: "Print the public keys of an identity file (as age-keygen -y does).",
                discussion: ExitStatus.helpTable)

            @OptionGroup var outputOptions: OutputOptions

            @Argument(help: ArgumentHelp("An age identity file.", valueName: "file"))
            var file: String

            func run(_ session: Session) throws {
                let output = session.output
                let keys = try KeyFile.publicKeys(of: file).map(\.description)
                if output.json { output.emit(KeyJSON(schema: JSONOutput.schema("key-public"), file: FileSystem.absolute(file), publicKeys: keys)); return }
                for key in keys { print(key) }
            }
        }
    }
}

/// `backstop key generate --json` and `backstop key public --json`.
struct KeyJSON: Encodable {
    var schema: String
    var file: String
    var publicKeys: [String]
    enum CodingKeys: String, CodingKey { case schema, file, publicKeys = "public_keys" }
}
