import ArgumentParser
import BackstopKit
import Foundation

/// `--from`: read snapshots from a replica instead of the local store.
struct SourceOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read snapshots from this replica: a [replicas.NAME] in backstop.toml, or an s3://bucket/prefix URL (endpoint, region and credentials from the AWS environment variables). Default: the local store.", valueName: "replica"))
    var from: String?
}

extension TargetOptions {
    /// The replica a name or URL means: a `[replicas.NAME]` of the configuration, or an `s3://` URL (the
    /// configured replica at that bucket and prefix, with its endpoint, recipients and policy, if there is
    /// one: a URL never sends plain copies to a replica configured to hold encrypted ones).
    func replica(_ nameOrURL: String) throws -> ReplicaSettings {
        if nameOrURL.hasPrefix("s3://") {
            let location = try S3Location(url: nameOrURL)
            let configured = try configuration().replicas.values.sorted { $0.name < $1.name }
                .first { (try? S3Location(url: $0.url)) == location }
            return configured ?? ReplicaSettings(name: nameOrURL, url: nameOrURL)
        }
        let configuration = try configuration()
        guard let settings = configuration.replicas[nameOrURL] else {
            let known = configuration.replicas.keys.sorted()
            throw BackstopError.invalidInput("there is no replica '\(nameOrURL)'"
                + (configuration.file.map { " in \($0)" } ?? " (no backstop.toml)")
                + (known.isEmpty ? "; give an s3://bucket/prefix URL, or add [replicas.NAME] to backstop.toml" : "; it names \(known.joined(separator: ", "))"))
        }
        return settings
    }
}

extension Session {
    /// The remote store of a replica, with the target's keys.
    func openReplica(_ settings: ReplicaSettings, _ target: Target) throws -> RemoteStore {
        try settings.open(keys: try keys(target))
    }

    /// Where a reading command reads: the replica `from` names, or the target's local store.
    func openSource(_ target: Target, from: String?, options: TargetOptions) throws -> any SnapshotRepository {
        guard let from else { return try openStore(target, create: false) }
        return try openReplica(try options.replica(from), target)
    }

    /// The local store when it exists (a live restore or recovery from a replica keeps its safety snapshot
    /// there, and creates it if needed).
    func openLocalStore(_ target: Target, create: Bool) throws -> SnapshotStore? {
        if !create && !FileSystem.isDirectory(target.store) { return nil }
        return try openStore(target, create: create)
    }
}
