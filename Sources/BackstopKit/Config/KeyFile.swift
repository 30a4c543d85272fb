import BackstopAge
import BackstopCore
import BackstopStore
import Foundation

/// age identity files, as age-keygen writes them.
public enum KeyFile {
    /// Writes a new X25519 identity to `path` (mode 0600, created atomically; never replacing a file: a
    /// lost key makes every snapshot encrypted to it unreadable). Returns its public key.
    public static func generate(at path: String, now: Date = Date()) throws -> AgeRecipient {
        let path = FileSystem.absolute(path)
        let folder = (path as NSString).deletingLastPathComponent
        guard FileSystem.isDirectory(folder) else {
            throw BackstopError.invalidInput("cannot write \(path): the folder \(folder) does not exist; nothing was written")
        }
        var info = stat()
        if lstat(path, &info) == 0 { throw BackstopError.alreadyExists(path: path) }
        let identity = AgeIdentity.generate()
        guard let text = identity.fileText(created: Timestamp.rfc3339(now)), let recipient = identity.recipient else {
            throw BackstopError.failed("could not derive the public key of a new identity")
        }
        try FileSystem.writeAtomically(Data(text.utf8), to: path, mode: 0o600, replace: false)
        return recipient
    }

    /// The public keys of the identities in an identity file (as `age-keygen -y` prints them).
    public static func publicKeys(of path: String) throws -> [AgeRecipient] {
        let settings = KeySettings(identityFiles: [FileSystem.absolute(path)])
        return try settings.load().identities.compactMap(\.recipient)
    }
}
