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
/// ```
public struct ReplicaSettings: Sendable, Equatable {
    public var name: String
    public var url: String
    public var endpoint: String?
    public var region: String?
    public var pathStyle: Bool?
    public var profile: String?
    public var policy: String?

    public init(name: String, url: String, endpoint: String? = nil, region: String? = nil, pathStyle: Bool? = nil,
                profile: String? = nil, policy: String? = nil) {
        self.name = name; self.url = url; self.endpoint = endpoint; self.region = region; self.pathStyle = pathStyle
        self.profile = profile; self.policy = policy
    }

    static let keys: Set<String> = ["url", "endpoint", "region", "path_style", "profile", "policy"]

    /// The remote store, with credentials from the environment or the profile. Nothing is sent yet.
    public func open(keys: SnapshotKeys, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteStore {
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
