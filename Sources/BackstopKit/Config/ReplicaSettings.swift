import BackstopCore
import BackstopRemote
import BackstopStore
import Foundation

/// A replica: an off-site copy of a store on S3-compatible storage, from `[replicas.NAME]` in
/// `backstop.toml`, or an `s3://bucket/prefix` URL given on the command line.
///
/// ```toml
/// [replicas.offsite]
/// url = "s3://backups/app"            # bucket and prefix
/// endpoint = "https://s3.example.net"  # default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, then AWS for the region
/// region = "eu-west-1"                 # default: AWS_REGION, AWS_DEFAULT_REGION, then us-east-1
/// path_style = true                    # bucket in the path (default with an endpoint), or in the host name
/// profile = "backup"                   # ~/.aws/credentials profile (default: AWS_ACCESS_KEY_ID..., AWS_PROFILE, default)
/// policy = "policies/offsite.toml"     # its own retention (default: the database's policy)
/// recipients = ["age1…"]               # encrypt its copies to these (or recipients_file, or passphrase_file)
/// identity = "/etc/backstop/offsite.key" # read its copies with this too
/// ```
///
/// Without recipients of its own, a replica holds snapshots as the local store does (encrypted or not).
/// With them, every snapshot is encrypted to them on its way up (decrypted first with the store's
/// identity when it is encrypted to other keys); nothing is written locally.
public struct ReplicaSettings: Sendable, Equatable {
    public var name: String
    public var url: String
    public var endpoint: String?
    public var region: String?
    public var pathStyle: Bool?
    public var profile: String?
    public var policy: String?
    /// Its own recipients and identities (none: copies are sent as stored).
    var encryption = EncryptionEntry()

    public init(name: String, url: String, endpoint: String? = nil, region: String? = nil, pathStyle: Bool? = nil,
                profile: String? = nil, policy: String? = nil) {
        self.name = name; self.url = url; self.endpoint = endpoint; self.region = region; self.pathStyle = pathStyle
        self.profile = profile; self.policy = policy
    }

    static let keys: Set<String> = Set(["url", "endpoint", "region", "path_style", "profile", "policy"]).union(EncryptionEntry.keys)

    /// True when copies sent to it are encrypted to its own recipients.
    public var encrypts: Bool { encryption.encrypts }

    /// The replica's keys: its own recipients (none: copies go as stored), and the identities of the store
    /// (`storeKeys`: flags, environment, configuration) and its own, to read what it holds.
    public func keys(storeKeys: SnapshotKeys) throws -> SnapshotKeys {
        let own = try encryption.settings.load()
        return SnapshotKeys(recipients: own.recipients, identities: storeKeys.identities + own.identities,
                            identitySources: storeKeys.identitySources + own.identitySources)
    }

    /// The remote store, with credentials from the environment or the profile, and ``keys(storeKeys:)``.
    /// Nothing is sent yet.
    public func open(keys storeKeys: SnapshotKeys, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteStore {
        let keys = try self.keys(storeKeys: storeKeys)
        let location = try S3Location(url: url)
        let env = { (key: String) in environment[key].flatMap { $0.isEmpty ? nil : $0 } }
        let region = self.region ?? env("AWS_REGION") ?? env("AWS_DEFAULT_REGION") ?? "us-east-1"
        let endpoint: S3Endpoint
        if let text = self.endpoint ?? env("AWS_ENDPOINT_URL_S3") ?? env("AWS_ENDPOINT_URL") {
            guard let url = URL(string: text), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil,
                  url.query == nil, url.user == nil else {
                throw BackstopError.invalidInput("replica \(name): the endpoint '\(text)' is not an http(s)://host[:port] URL")
            }
            endpoint = S3Endpoint(url: url, region: region, pathStyle: pathStyle ?? true)
        } else {
            var aws = S3Endpoint.aws(region: region)
            aws.pathStyle = pathStyle ?? false
            endpoint = aws
        }
        let credentials = try S3Credentials.resolve(profile: profile, environment: environment)
        let retries = env("BACKSTOP_S3_RETRIES").flatMap { Int($0) }.map { max(0, min($0, 20)) } ?? 5
        let timeout = env("BACKSTOP_S3_TIMEOUT").flatMap { Double($0) }.map { max(1, min($0, 3600)) } ?? 60
        let client = S3Client(endpoint: endpoint, bucket: location.bucket, credentials: credentials, retries: retries, timeout: timeout)
        return RemoteStore(name: name, location: location, client: client, keys: keys)
    }
}
