import BackstopCore
import Foundation

/// An access key pair (and session token), and where it came from. Never printed: its description names
/// the source and the key id's last characters only.
public struct S3Credentials: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// Where they came from, for messages: "AWS_ACCESS_KEY_ID", "profile backup in ~/.aws/credentials".
    public var source: String

    public init(accessKeyID: String, secretAccessKey: String, sessionToken: String? = nil, source: String) {
        self.accessKeyID = accessKeyID; self.secretAccessKey = secretAccessKey; self.sessionToken = sessionToken; self.source = source
    }

    public var description: String { "access key …\(accessKeyID.suffix(4)) from \(source)" }
    public var debugDescription: String { description }

    /// From `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` (/ `AWS_SESSION_TOKEN`), else from the profile
    /// (`profile`, else `AWS_PROFILE`, else `default`) in `AWS_SHARED_CREDENTIALS_FILE` or
    /// `~/.aws/credentials`. A profile named explicitly must exist.
    public static func resolve(profile: String?, environment: [String: String]) throws -> S3Credentials {
        let env = { (key: String) in environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        if profile == nil, let id = env("AWS_ACCESS_KEY_ID") {
            guard let secret = env("AWS_SECRET_ACCESS_KEY") else {
                throw BackstopError.invalidInput("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not; nothing was changed")
            }
            return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: env("AWS_SESSION_TOKEN"), source: "AWS_ACCESS_KEY_ID")
        }
        let name = profile ?? env("AWS_PROFILE") ?? "default"
        let home = env("HOME") ?? NSHomeDirectory()
        let file = env("AWS_SHARED_CREDENTIALS_FILE") ?? (home as NSString).appendingPathComponent(".aws/credentials")
        let sections = FileManager.default.fileExists(atPath: file) ? try parseINI(path: file) : [:]
        guard let section = sections[name] else {
            let known = sections.keys.sorted()
            throw BackstopError.invalidInput(
                "no S3 credentials: AWS_ACCESS_KEY_ID is not set and \(file) has no profile [\(name)]"
                + (known.isEmpty ? "" : " (it has \(known.joined(separator: ", ")))") + "; nothing was changed")
        }
        guard let id = section["aws_access_key_id"], let secret = section["aws_secret_access_key"] else {
            throw BackstopError.invalidInput("profile [\(name)] in \(file) lacks aws_access_key_id or aws_secret_access_key; nothing was changed")
        }
        return S3Credentials(accessKeyID: id, secretAccessKey: secret, sessionToken: section["aws_session_token"],
                             source: "profile \(name) in \(file)")
    }

    /// `[section]` and `key = value` lines (the AWS CLI's credentials file). Values are never echoed in errors.
    static func parseINI(path: String) throws -> [String: [String: String]] {
        guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20 else {
            throw BackstopError.invalidInput("cannot read the credentials file \(path)")
        }
        var sections: [String: [String: String]] = [:]
        var current: String?
        for raw in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                var name = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                if name.hasPrefix("profile ") { name = String(name.dropFirst(8)).trimmingCharacters(in: .whitespaces) }
                current = name
                sections[name, default: [:]] = sections[name] ?? [:]
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            sections[current]![key] = value
        }
        return sections
    }
}
